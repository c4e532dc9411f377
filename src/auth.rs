//! Passwords (redis `requirepass` and the `AUTH` / `HELLO ... AUTH` checks of
//! acl.c; twemproxy's `redis_auth`): the [`Secret`] type that holds a
//! password from the configuration, the check of a client's credentials, and
//! the rate limit of the log lines that report wrong passwords.
//!
//! ```text
//!  YAML requirepass ─► Secret ─► check(requirepass, user, pass) ─► Accepted | Wrong | NoPassword
//!  YAML redis_auth  ─► Secret ─► server.rs: AUTH [user] pass on every datastore connection
//! ```
//!
//! A `Secret` never prints its text: `Debug` and `Display` show
//! `<redacted>`, so a configuration printed whole (a test's assertion, a
//! debug line) cannot leak it. The text comes out only through
//! [`Secret::expose`], which server.rs calls to write the datastore's AUTH.
//!
//! The comparison takes the same time whatever the guess: both sides are
//! hashed with SHA-256 and the two 32-byte digests are compared with
//! `subtle`'s constant-time equality. Comparing the raw bytes, even in
//! constant time, would still stop at a length mismatch and tell an attacker
//! the password's length; the digests are always 32 bytes.
//!
//! This module depends on nothing else in the crate (conf and the handlers
//! both use it).

use std::fmt;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The user an `AUTH <password>` (one argument) authenticates, and the one
/// `requirepass` sets the password of (redis 6 and later).
pub const DEFAULT_USER: &[u8] = b"default";

/// A password from the configuration. Its text is never formatted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    text: String,
    digest: [u8; 32],
}

impl Secret {
    /// Wraps a password.
    pub fn new(text: &str) -> Secret {
        Secret {
            text: text.to_string(),
            digest: Sha256::digest(text.as_bytes()).into(),
        }
    }

    /// True when `guess` is the password, in a time that depends on the
    /// length of `guess` only (see the module comment).
    pub fn verify(&self, guess: &[u8]) -> bool {
        let d: [u8; 32] = Sha256::digest(guess).into();
        bool::from(self.digest.ct_eq(&d))
    }

    /// The password itself, for the AUTH the node sends to its datastore.
    /// Nothing that is logged or shown may be made from it.
    pub fn expose(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What `AUTH` (or HELLO's AUTH option) answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `+OK`: the client is authenticated.
    Accepted,
    /// `-WRONGPASS ...`: wrong password or an unknown user.
    Wrong,
    /// `AUTH <password>` while no password is set: redis' `-ERR AUTH
    /// <password> called without any password configured ...`.
    NoPassword,
}

/// Checks a client's credentials against `requirepass` the way redis 7
/// does: the only user is `default`; without a password it takes any
/// password (it is a `nopass` user) but `AUTH <password>` alone is an
/// error; with one, the password must match. `user` is `None` for the
/// one-argument `AUTH <password>`.
pub fn check(requirepass: Option<&Secret>, user: Option<&[u8]>, pass: &[u8]) -> Verdict {
    let user_ok = user.is_none_or(|u| u == DEFAULT_USER);
    match requirepass {
        None if user.is_none() => Verdict::NoPassword,
        None if user_ok => Verdict::Accepted,
        None => Verdict::Wrong,
        Some(secret) => {
            // The password is checked whatever the user, so the time does
            // not tell whether the user exists.
            let pass_ok = secret.verify(pass);
            if pass_ok && user_ok {
                Verdict::Accepted
            } else {
                Verdict::Wrong
            }
        }
    }
}

/// The tail of a rate-limited log line: how many like it were held back.
pub fn held_back(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" ({n} more since the last such line)")
    }
}

/// Lets a repeated log line through at most once per period and counts the
/// ones held back (a client guessing passwords, a datastore refusing the
/// node's password at every reconnect).
#[derive(Debug, Clone, Default)]
pub struct LogLimit {
    /// The next line may be written from this instant on.
    next_at: Option<Instant>,
    /// Lines held back since the last one written.
    suppressed: u64,
}

impl LogLimit {
    /// `Some(n)` when a line may be written now (`n` lines were held back
    /// since the last one); `None` when this one is held back.
    pub fn allow(&mut self, now: Instant, every: Duration) -> Option<u64> {
        if self.next_at.is_some_and(|t| now < t) {
            self.suppressed += 1;
            return None;
        }
        self.next_at = Some(now + every);
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_text() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn verify_matches_exact_bytes_only() {
        let s = Secret::new("hunter2");
        assert!(s.verify(b"hunter2"));
        for guess in [&b""[..], b"hunter", b"hunter22", b"Hunter2", b"hunter2\0"] {
            assert!(!s.verify(guess), "{guess:?}");
        }
        let empty = Secret::new("");
        assert!(empty.verify(b""));
        assert!(!empty.verify(b"x"));
    }

    #[test]
    fn check_follows_redis() {
        let pw = Secret::new("s3cret");
        type Case<'a> = (Option<&'a Secret>, Option<&'a [u8]>, &'a [u8], Verdict);
        let table: &[Case] = &[
            // No requirepass: `default` is a nopass user.
            (None, None, b"x", Verdict::NoPassword),
            (None, Some(b"default"), b"anything", Verdict::Accepted),
            (None, Some(b"nobody"), b"x", Verdict::Wrong),
            (None, Some(b"DEFAULT"), b"x", Verdict::Wrong),
            // requirepass set.
            (Some(&pw), None, b"s3cret", Verdict::Accepted),
            (Some(&pw), None, b"bad", Verdict::Wrong),
            (Some(&pw), Some(b"default"), b"s3cret", Verdict::Accepted),
            (Some(&pw), Some(b"default"), b"bad", Verdict::Wrong),
            (Some(&pw), Some(b"nobody"), b"s3cret", Verdict::Wrong),
        ];
        for &(req, user, pass, want) in table {
            assert_eq!(check(req, user, pass), want, "{user:?} {pass:?}");
        }
    }

    #[test]
    fn log_limit_lets_one_line_through_per_period() {
        let mut l = LogLimit::default();
        let t = Instant::now();
        let every = Duration::from_secs(10);
        assert_eq!(l.allow(t, every), Some(0));
        assert_eq!(l.allow(t, every), None);
        assert_eq!(l.allow(t + Duration::from_secs(9), every), None);
        assert_eq!(l.allow(t + every, every), Some(2));
        assert_eq!(l.allow(t + every, every), None);
    }
}
