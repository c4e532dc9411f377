//! Client protocols (dyn_redis.c, dyn_memcache.c). Parsers never touch a socket:
//! they are fed byte slices and record positions.

pub mod memcache;
pub mod redis;

#[cfg(test)]
pub(crate) mod testing;

/// Outcome of feeding one chunk to a resumable parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parse {
    /// The message is complete after this many bytes of the chunk; bytes past
    /// them belong to the next message.
    Done(usize),
    /// Every byte of the chunk was consumed; the message needs more bytes.
    Again,
    /// The stream cannot be framed any further. The text is the error reply
    /// after its `-` (no CR/LF), e.g. `ERR Protocol error: invalid multibulk length`.
    Error(&'static str),
}
