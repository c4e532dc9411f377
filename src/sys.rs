//! System calls (the libc side of dyn_util.c, dyn_signal.c and dynomite.c's
//! `dn_daemonize`): every call into libc of the node, behind the
//! `syscall!` helper or a small safe function, so that `unsafe` appears in
//! this file only.
//!
//! | caller | calls |
//! |---|---|
//! | `daemon.rs` | fork, _exit, setsid, signal, umask, open, dup2, close |
//! | `signal.rs` | sigaction, sigemptyset, write (in the handler) |
//! | `main.rs` | getrlimit, setrlimit (open files) |
//! | `logging.rs` | localtime_r |
//! | `core/` | malloc_trim |
//! | `stats/admin.rs` | getrusage, gethostname |
//!
//! Each function keeps the call and the error handling its caller had;
//! results the callers ignored are still ignored here.

use std::ffi::c_int;
use std::io;
use std::os::fd::RawFd;

/// Calls `libc::$fn` and turns a negative result into the OS error, as mio's
/// `sys/unix` does. Each use states, in a `// SAFETY:` comment, why its
/// arguments are valid.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: see the comment at the call site.
        let res = unsafe { libc::$fn($($arg),*) };
        if res < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

// ---------------------------------------------------------------------------
// Daemonizing (dn_daemonize).

/// fork(2); the parent exits at once with status 0 (`_exit`: no destructors,
/// no buffers flushed) and the call returns in the child.
///
/// Call it only while the process has one thread (at start-up, before the
/// loop and the logger run), as `dn_daemonize` does.
pub fn fork_exit_parent() -> io::Result<()> {
    // SAFETY: fork takes no arguments; with one thread the child is a full
    // copy of the parent.
    match syscall!(fork())? {
        0 => Ok(()),
        // SAFETY: _exit ends the parent; nothing of it is used afterwards.
        _ => unsafe { libc::_exit(0) },
    }
}

/// setsid(2): a new session without a controlling terminal.
pub fn setsid() -> io::Result<()> {
    // SAFETY: setsid takes no arguments.
    syscall!(setsid()).map(drop)
}

/// What [`signal`] makes a signal do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// `SIG_DFL`: the default action.
    Default,
    /// `SIG_IGN`: the signal is discarded.
    Ignore,
}

/// signal(2) with `SIG_DFL` or `SIG_IGN`; the previous disposition is not
/// returned (`dn_daemonize` does not look at it).
pub fn signal(sig: c_int, disposition: Disposition) {
    let handler = match disposition {
        Disposition::Default => libc::SIG_DFL,
        Disposition::Ignore => libc::SIG_IGN,
    };
    // SAFETY: SIG_DFL and SIG_IGN are valid dispositions for any signal;
    // an invalid signal number only makes the call fail.
    unsafe {
        libc::signal(sig, handler);
    }
}

/// signal(2) with `SIG_DFL` or `SIG_IGN`, returning the disposition it
/// replaced, for [`signal_restore`].
pub fn signal_swap(sig: c_int, disposition: Disposition) -> libc::sighandler_t {
    let handler = match disposition {
        Disposition::Default => libc::SIG_DFL,
        Disposition::Ignore => libc::SIG_IGN,
    };
    // SAFETY: SIG_DFL and SIG_IGN are valid dispositions for any signal;
    // an invalid signal number only makes the call fail (SIG_ERR returned).
    unsafe { libc::signal(sig, handler) }
}

/// Puts back a disposition [`signal_swap`] returned (a handler installed
/// earlier stays installed); SIG_ERR is ignored.
pub fn signal_restore(sig: c_int, previous: libc::sighandler_t) {
    if previous == libc::SIG_ERR {
        return;
    }
    // SAFETY: `previous` came from signal(2) for the same signal, so it is
    // SIG_DFL, SIG_IGN or a handler this process installed.
    unsafe {
        libc::signal(sig, previous);
    }
}

/// umask(2); the previous mask is not returned.
pub fn umask(mask: libc::mode_t) {
    // SAFETY: umask takes a plain integer and cannot fail.
    unsafe {
        libc::umask(mask);
    }
}

/// open(2) of `/dev/null` for reading and writing.
pub fn open_dev_null() -> io::Result<RawFd> {
    // SAFETY: the path is a NUL-terminated literal; no mode is needed without
    // O_CREAT.
    syscall!(open(c"/dev/null".as_ptr(), libc::O_RDWR))
}

/// dup2(2): `fd` becomes `target` too.
pub fn dup2(fd: RawFd, target: RawFd) -> io::Result<()> {
    // SAFETY: dup2 takes two integers; a bad descriptor only makes it fail.
    syscall!(dup2(fd, target)).map(drop)
}

/// close(2), its result ignored (the descriptor is a spare copy).
pub fn close(fd: RawFd) {
    // SAFETY: close takes an integer; the caller owns `fd` and does not use
    // it afterwards.
    unsafe {
        libc::close(fd);
    }
}

// ---------------------------------------------------------------------------
// Signals (dyn_signal.c).

/// sigaction(2) with `handler` (a function pointer or `SIG_IGN`),
/// `SA_RESTART` and an empty mask.
fn sigaction(sig: c_int, handler: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid value; we set the handler and an
    // empty mask before passing it to sigaction(2), which copies it.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs `handler` when `sig` arrives. The handler may only make
/// async-signal-safe calls, such as [`write_byte`].
pub fn set_handler(sig: c_int, handler: extern "C" fn(c_int)) -> io::Result<()> {
    sigaction(sig, handler as *const () as libc::sighandler_t)
}

/// Ignores `sig` (sigaction(2) with `SIG_IGN`).
pub fn ignore(sig: c_int) -> io::Result<()> {
    sigaction(sig, libc::SIG_IGN)
}

/// write(2) of one byte, its result ignored; async-signal-safe, for a
/// signal handler.
pub fn write_byte(fd: RawFd, b: u8) {
    // SAFETY: write(2) is async-signal-safe; the buffer is one valid byte.
    unsafe {
        libc::write(fd, &b as *const u8 as *const libc::c_void, 1);
    }
}

// ---------------------------------------------------------------------------
// Resources and time.

/// getrlimit(2) of `RLIMIT_NOFILE` (open descriptors).
pub fn nofile_limit() -> io::Result<libc::rlimit> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit we own.
    syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut rl))?;
    Ok(rl)
}

/// setrlimit(2) of `RLIMIT_NOFILE`.
pub fn set_nofile_limit(rl: &libc::rlimit) -> io::Result<()> {
    // SAFETY: setrlimit reads the rlimit we lend it.
    syscall!(setrlimit(libc::RLIMIT_NOFILE, rl)).map(drop)
}

/// getrusage(2) of this process; all zero if the call fails.
pub fn rusage_self() -> libc::rusage {
    // SAFETY: a zeroed rusage is a valid value; getrusage fills the struct we
    // own.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    }
}

/// gethostname(2) into `buf` (NUL-terminated when the name fits).
pub fn gethostname(buf: &mut [u8]) -> io::Result<()> {
    // SAFETY: gethostname writes at most buf.len() bytes into our buffer.
    syscall!(gethostname(
        buf.as_mut_ptr() as *mut libc::c_char,
        buf.len()
    ))
    .map(drop)
}

/// This host's name, when it has one.
pub fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    gethostname(&mut buf).ok()?;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(&buf[..end]).ok()?;
    (!name.is_empty()).then(|| name.to_string())
}

/// localtime_r(3): `secs` since the epoch in the local time zone.
pub fn localtime(secs: libc::time_t) -> libc::tm {
    // SAFETY: localtime_r writes into the zeroed tm we own; secs is a valid
    // time_t.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    }
}

/// malloc_trim(3): gives freed heap memory back to the system (glibc only;
/// elsewhere nothing).
pub fn malloc_trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

// ---------------------------------------------------------------------------
// Allocation counting (test builds only).

/// The global allocator of the library's unit tests: the system allocator,
/// counting the allocations a thread makes while it has counting on. The
/// reactor tests turn counting on around each turn of a node's loop, so that
/// "a clustered request allocates nothing in steady state" is measured, not
/// assumed.
#[cfg(test)]
pub(crate) mod alloc_count {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ON: Cell<bool> = const { Cell::new(false) };
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    /// The counting allocator.
    pub(crate) struct Counting;

    fn note() {
        // `try_with`: allocations while a thread is torn down are not counted.
        let _ = ON.try_with(|on| {
            if on.get() {
                let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            }
        });
    }

    // SAFETY: every call goes to the system allocator with the caller's
    // arguments unchanged; counting touches only const-initialized
    // thread-locals, which never allocate.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            note();
            // SAFETY: as for the trait: the caller's layout, passed on.
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            note();
            // SAFETY: as above.
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            note();
            // SAFETY: `ptr` came from this allocator (that is, from System).
            unsafe { System.realloc(ptr, layout, new_size) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from this allocator (that is, from System).
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    /// Runs `f` with counting on in this thread.
    pub(crate) fn counted<T>(f: impl FnOnce() -> T) -> T {
        ON.with(|on| on.set(true));
        let out = f();
        ON.with(|on| on.set(false));
        out
    }

    /// Allocations counted in this thread so far.
    pub(crate) fn allocations() -> u64 {
        COUNT.with(|c| c.get())
    }

    #[test]
    fn counts_this_threads_allocations_while_on() {
        let before = allocations();
        drop(std::hint::black_box(Vec::<u8>::with_capacity(64)));
        assert_eq!(allocations(), before, "off: not counted");
        counted(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(64))));
        assert_eq!(allocations(), before + 1);
        let mut v = Vec::<u8>::with_capacity(1);
        counted(|| v.extend_from_slice(&[0; 100]));
        assert_eq!(allocations(), before + 2, "a reallocation counts");
    }
}
