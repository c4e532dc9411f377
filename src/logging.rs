//! Logging (dyn_log.c): the original's levels 0..11 on top of the `log`
//! crate, to stderr or to a file that SIGHUP reopens.
//!
//! Level mapping (twemproxy `nc_log.h`): below 4 → error, 4 → warn,
//! 5–6 → info, 7 → debug, 8 and up → trace. Line format:
//! `[YYYY-MM-DD HH:MM:SS.mmm] module:line message`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use log::{LevelFilter, Log, Metadata, Record};

/// Highest level.
pub const LOG_MAX: usize = 11;
/// Default level (`-v`).
pub const LOG_DEFAULT: usize = 5;

static LEVEL: AtomicUsize = AtomicUsize::new(LOG_DEFAULT);
static LOGGER: Logger = Logger {
    out: Mutex::new(Output {
        path: None,
        file: None,
    }),
};

struct Output {
    path: Option<String>,
    file: Option<File>,
}

struct Logger {
    out: Mutex<Output>,
}

fn filter_for(level: usize) -> LevelFilter {
    match level {
        0..=3 => LevelFilter::Error,
        4 => LevelFilter::Warn,
        5 | 6 => LevelFilter::Info,
        7 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    let tm = crate::sys::localtime(secs);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}

impl Logger {
    fn write_line(&self, line: &str) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        match out.file.as_mut() {
            Some(f) => {
                let _ = f.write_all(line.as_bytes());
            }
            None => {
                let _ = io::stderr().write_all(line.as_bytes());
            }
        }
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let module = record.module_path().unwrap_or("dynomite");
        let module = module.strip_prefix("dynomite::").unwrap_or(module);
        let line = format!(
            "[{}] {}:{} {}\n",
            timestamp(),
            module,
            record.line().unwrap_or(0),
            record.args()
        );
        self.write_line(&line);
    }

    fn flush(&self) {}
}

fn open(path: &str) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Sets up logging at `level` to `path` (stderr when `None`).
pub fn init(level: usize, path: Option<&str>) -> io::Result<()> {
    let file = match path {
        Some(p) => Some(open(p)?),
        None => None,
    };
    {
        let mut out = LOGGER.out.lock().unwrap_or_else(|e| e.into_inner());
        out.path = path.map(str::to_string);
        out.file = file;
    }
    set_level(level);
    // A second init (tests) keeps the first logger; the output was replaced above.
    let _ = log::set_logger(&LOGGER);
    Ok(())
}

/// Sets the level (clamped to 0..=11).
pub fn set_level(level: usize) -> usize {
    let level = level.min(LOG_MAX);
    LEVEL.store(level, Ordering::Relaxed);
    log::set_max_level(filter_for(level));
    level
}

/// The current level.
pub fn level() -> usize {
    LEVEL.load(Ordering::Relaxed)
}

/// Raises the level by one.
pub fn level_up() -> usize {
    set_level(level().saturating_add(1))
}

/// Lowers the level by one.
pub fn level_down() -> usize {
    set_level(level().saturating_sub(1))
}

/// Writes a line whatever the level (banner, signals, level changes).
pub fn always(msg: &str) {
    LOGGER.write_line(&format!("[{}] {}\n", timestamp(), msg));
}

/// Reopens the log file (SIGHUP, after logrotate moved it).
pub fn reopen() {
    let mut out = LOGGER.out.lock().unwrap_or_else(|e| e.into_inner());
    let Some(path) = out.path.clone() else { return };
    match open(&path) {
        Ok(f) => out.file = Some(f),
        Err(e) => {
            let _ = writeln!(
                io::stderr(),
                "reopening log file '{path}' failed, ignored: {e}"
            );
        }
    }
}
