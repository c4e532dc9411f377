//! The hinted-handoff directives (beyond the original, which dropped every
//! copy it could not deliver): where hints live and how far they may grow.
//! A table of their own, applied before the original's, like the TLS keys.
//!
//! | key | value | default |
//! |---|---|---|
//! | `hints_enabled` | keep undeliverable copies as hints | `true` |
//! | `hints_dir` | directory of the per-peer hint files | none: memory only |
//! | `hints_max_memory_bytes` | hint bytes held in memory, per peer | 64 MiB |
//! | `hints_max_disk_bytes` | size of one peer's hint file | 1 GiB |
//! | `hints_max_age` | ms a hint is kept (Cassandra's `max_hint_window`) | 10800000 (3 h) |
//! | `hints_replay_window` | hints in flight per peer while replaying | 64 |
//! | `hints_fsync` | fsync the hint files after each turn's writes | `false` |

use super::values::{int_or, parse_bool};

/// Default `hints_max_memory_bytes:` (per peer).
pub const DEFAULT_HINTS_MAX_MEMORY_BYTES: u64 = 64 << 20;
/// Default `hints_max_disk_bytes:` (per peer).
pub const DEFAULT_HINTS_MAX_DISK_BYTES: u64 = 1 << 30;
/// Default `hints_max_age:` (3 hours, in ms).
pub const DEFAULT_HINTS_MAX_AGE_MS: u64 = 3 * 3600 * 1000;
/// Default `hints_replay_window:`.
pub const DEFAULT_HINTS_REPLAY_WINDOW: u64 = 64;
/// Largest `hints_replay_window:`.
pub const MAX_HINTS_REPLAY_WINDOW: u64 = 4096;
/// Smallest byte bound (one large request must fit).
pub const MIN_HINTS_BYTES: u64 = 64 << 10;

/// The hinted-handoff settings of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffConf {
    /// `hints_enabled:` keep undeliverable copies as hints (default true).
    pub enabled: bool,
    /// `hints_dir:` directory of the hint files; none keeps hints in memory
    /// only (lost when the node restarts).
    pub dir: Option<String>,
    /// `hints_max_memory_bytes:` hint bytes held in memory per peer.
    pub max_memory_bytes: u64,
    /// `hints_max_disk_bytes:` size bound of one peer's hint file.
    pub max_disk_bytes: u64,
    /// `hints_max_age:` ms after which an unreplayed hint is dropped.
    pub max_age_ms: u64,
    /// `hints_replay_window:` hints in flight per peer while replaying.
    pub replay_window: u32,
    /// `hints_fsync:` fsync hint files after each loop turn's writes.
    pub fsync: bool,
}

impl Default for HandoffConf {
    fn default() -> Self {
        HandoffConf {
            enabled: true,
            dir: None,
            max_memory_bytes: DEFAULT_HINTS_MAX_MEMORY_BYTES,
            max_disk_bytes: DEFAULT_HINTS_MAX_DISK_BYTES,
            max_age_ms: DEFAULT_HINTS_MAX_AGE_MS,
            replay_window: DEFAULT_HINTS_REPLAY_WINDOW as u32,
            fsync: false,
        }
    }
}

/// Every hinted-handoff directive name.
pub const HANDOFF_DIRECTIVES: [&str; 7] = [
    "hints_enabled",
    "hints_dir",
    "hints_max_memory_bytes",
    "hints_max_disk_bytes",
    "hints_max_age",
    "hints_replay_window",
    "hints_fsync",
];

/// The slot of a hinted-handoff directive, if `key` is one.
pub(super) fn handoff_slot(key: &str) -> Option<&'static str> {
    HANDOFF_DIRECTIVES.iter().copied().find(|d| *d == key)
}

impl HandoffConf {
    /// Applies one directive with its single value `v`; the error is the
    /// reason (the caller names the file and the key).
    pub(super) fn apply(&mut self, slot: &str, v: &str) -> Result<(), String> {
        let bytes = |default: u64| -> Result<u64, String> {
            match int_or(v, default)? {
                n if n >= MIN_HINTS_BYTES => Ok(n),
                _ => Err(format!(
                    "must be at least {MIN_HINTS_BYTES} (0 selects the default {default})"
                )),
            }
        };
        match slot {
            "hints_enabled" => self.enabled = parse_bool(v)?,
            "hints_dir" => {
                let v = v.trim();
                self.dir = match v {
                    "" | "none" | "~" => None,
                    d => Some(d.to_string()),
                }
            }
            "hints_max_memory_bytes" => {
                self.max_memory_bytes = bytes(DEFAULT_HINTS_MAX_MEMORY_BYTES)?
            }
            "hints_max_disk_bytes" => self.max_disk_bytes = bytes(DEFAULT_HINTS_MAX_DISK_BYTES)?,
            "hints_max_age" => self.max_age_ms = int_or(v, DEFAULT_HINTS_MAX_AGE_MS)?,
            "hints_replay_window" => {
                self.replay_window = match int_or(v, DEFAULT_HINTS_REPLAY_WINDOW)? {
                    n if n <= MAX_HINTS_REPLAY_WINDOW => n as u32,
                    _ => {
                        return Err(format!(
                            "must be between 1 and {MAX_HINTS_REPLAY_WINDOW} (0 selects the \
                             default {DEFAULT_HINTS_REPLAY_WINDOW})"
                        ))
                    }
                }
            }
            "hints_fsync" => self.fsync = parse_bool(v)?,
            _ => unreachable!("hinted-handoff directive {slot} has no handler"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::conf::Conf;

    const BASE: &str = "t:\n  listen: 127.0.0.1:8102\n  servers:\n  - 127.0.0.1:6379:1\n";

    fn parse(extra: &str) -> Result<crate::conf::PoolConf, String> {
        Conf::parse_str("h.yml", &format!("{BASE}  {extra}\n"))
            .map(|c| c.pool)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_keep_hints_in_memory_for_three_hours() {
        let p = Conf::parse_str("h.yml", BASE).expect("conf").pool;
        let h = &p.handoff;
        assert!(h.enabled);
        assert_eq!(h.dir, None);
        assert_eq!(h.max_memory_bytes, 64 << 20);
        assert_eq!(h.max_disk_bytes, 1 << 30);
        assert_eq!(h.max_age_ms, 10_800_000);
        assert_eq!(h.replay_window, 64);
        assert!(!h.fsync);
    }

    #[test]
    fn every_key_is_read() {
        type Check = fn(&super::HandoffConf) -> bool;
        let cases: [(&str, Check); 10] = [
            ("hints_enabled: false", |h| !h.enabled),
            ("hints_dir: /var/lib/dynomite/hints", |h| {
                h.dir.as_deref() == Some("/var/lib/dynomite/hints")
            }),
            ("hints_dir: none", |h| h.dir.is_none()),
            ("hints_max_memory_bytes: 1048576", |h| {
                h.max_memory_bytes == 1 << 20
            }),
            ("hints_max_memory_bytes: 0", |h| {
                h.max_memory_bytes == 64 << 20
            }),
            ("hints_max_disk_bytes: 2097152", |h| {
                h.max_disk_bytes == 2 << 20
            }),
            ("hints_max_age: 60000", |h| h.max_age_ms == 60_000),
            ("hints_replay_window: 8", |h| h.replay_window == 8),
            ("hints_replay_window: 0", |h| h.replay_window == 64),
            ("hints_fsync: true", |h| h.fsync),
        ];
        for (line, check) in cases {
            let p = parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert!(check(&p.handoff), "{line}: {:?}", p.handoff);
        }
    }

    #[test]
    fn bad_values_name_the_file_and_the_key() {
        for (line, key, reason) in [
            ("hints_enabled: maybe", "hints_enabled", ""),
            (
                "hints_max_memory_bytes: 1024",
                "hints_max_memory_bytes",
                "at least",
            ),
            (
                "hints_max_disk_bytes: 1GB",
                "hints_max_disk_bytes",
                "not a number",
            ),
            ("hints_max_age: soon", "hints_max_age", "not a number"),
            (
                "hints_replay_window: 100000",
                "hints_replay_window",
                "between 1",
            ),
        ] {
            let e = parse(line).expect_err(line);
            assert!(e.contains("h.yml"), "{line}: {e}");
            assert!(e.contains(key), "{line}: {e}");
            assert!(e.contains(reason), "{line}: {e}");
        }
        let e = parse("hints_fsync: true\n  hints_fsync: false").expect_err("twice");
        assert!(e.contains("hints_fsync"), "{e}");
    }
}
