//! Command-line options (dynomite.c `dn_get_options`, `dn_show_usage`).
//!
//! ```text
//!   argv ── expand unique long-option prefixes ── getopts ── Fail -> exact message
//!                                                     └─ values in argv order -> Options
//! ```
//!
//! Like GNU `getopt_long`: options and positional words may be mixed (the
//! words are ignored), `--opt=value`, `--opt value`, `-vN` and `-v N` all
//! work, a repeated option's last value wins, and `--` ends the options.
//! Unlike the original, `-s`, `-a`, `-i` and `-M`/`-x` are listed in the usage
//! and work, and an unknown option is named in the message (the original
//! prints a NUL byte for declared-but-unhandled ones).

use crate::conf::{MAX_ALLOC_MSGS, MBUF_MAX_SIZE, MBUF_MIN_SIZE, MIN_ALLOC_MSGS};

/// Default `-c`.
pub const DEFAULT_CONF_FILE: &str = "conf/dynomite.yml";
/// Default `-v`.
pub const DEFAULT_VERBOSITY: u8 = 5;
/// Largest `-v` (PVERB); larger values are clamped.
pub const MAX_VERBOSITY: u8 = 11;
/// Default buffer chunk size when neither `-m` nor `mbuf_size:` is given.
pub const DEFAULT_MBUF_SIZE: usize = 16384;
/// Default message cap when neither `-M` nor `max_msgs:` is given.
pub const DEFAULT_MAX_MSGS: usize = 200_000;
/// Default stats port of the usage text (the YAML `stats_listen:` default).
pub const DEFAULT_STATS_PORT: u16 = 22222;
/// Default stats address of the usage text.
pub const DEFAULT_STATS_ADDR: &str = "0.0.0.0";
/// Default stats interval of the usage text.
pub const DEFAULT_STATS_INTERVAL_MS: u64 = 30_000;

/// Notice printed when `-m` is used.
pub const MBUF_DEPRECATED: &str =
    "-m or --mbuf-size command line arguments has been deprecated. Use configuration file.";
/// Notice printed when `-M` is used.
pub const MAX_MSGS_DEPRECATED: &str =
    "-M or max-msgs command line argument has been deprecated. Use configuration file.";

const _: () = assert!(DEFAULT_MBUF_SIZE >= MBUF_MIN_SIZE && DEFAULT_MBUF_SIZE <= MBUF_MAX_SIZE);
const _: () = assert!(DEFAULT_MAX_MSGS >= MIN_ALLOC_MSGS && DEFAULT_MAX_MSGS <= MAX_ALLOC_MSGS);
const _: () = assert!(DEFAULT_VERBOSITY <= MAX_VERBOSITY);

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `-h`: print the version line and the usage, exit 0.
    pub help: bool,
    /// `-V`: print the version line, exit 0.
    pub version: bool,
    /// `-t`: load and validate the configuration, exit 0 or 1.
    pub test_conf: bool,
    /// `-d`: run as a daemon.
    pub daemonize: bool,
    /// `-D`: print the stats descriptions, exit 0.
    pub describe_stats: bool,
    /// `-v`: log level 0..=11 (default 5).
    pub verbosity: u8,
    /// `-o`: log file; `None` logs to stderr.
    pub output: Option<String>,
    /// `-c`: configuration file.
    pub conf_file: String,
    /// `-p`: pid file; `None` writes none.
    pub pid_file: Option<String>,
    /// `-m` (deprecated): buffer chunk size; the YAML `mbuf_size:` wins.
    pub mbuf_size: Option<usize>,
    /// `-M` (deprecated): message cap; the YAML `max_msgs:` wins.
    pub max_msgs: Option<usize>,
    /// `-x`: admin operation, 0 when off.
    pub admin_op: u32,
    /// `-s`: stats port, replacing the port of `stats_listen:`.
    pub stats_port: Option<u16>,
    /// `-a`: stats address, replacing the host of `stats_listen:`.
    pub stats_addr: Option<String>,
    /// `-i`: stats aggregation interval in milliseconds, replacing `stats_interval:`.
    pub stats_interval: Option<u64>,
    /// Deprecation notices to print (for `-m`, `-M`).
    pub warnings: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            help: false,
            version: false,
            test_conf: false,
            daemonize: false,
            describe_stats: false,
            verbosity: DEFAULT_VERBOSITY,
            output: None,
            conf_file: DEFAULT_CONF_FILE.to_string(),
            pid_file: None,
            mbuf_size: None,
            max_msgs: None,
            admin_op: 0,
            stats_port: None,
            stats_addr: None,
            stats_interval: None,
            warnings: Vec::new(),
        }
    }
}

/// What an option's argument is, for the "requires a ..." message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arg {
    None,
    Number,
    FileName,
    Text,
}

/// The option table: short letter, long name, argument, usage line text.
const OPTIONS: [(char, &str, Arg); 16] = [
    ('h', "help", Arg::None),
    ('V', "version", Arg::None),
    ('t', "test-conf", Arg::None),
    ('d', "daemonize", Arg::None),
    ('D', "describe-stats", Arg::None),
    ('v', "verbosity", Arg::Number),
    ('o', "output", Arg::FileName),
    ('c', "conf-file", Arg::FileName),
    ('p', "pid-file", Arg::FileName),
    ('m', "mbuf-size", Arg::Number),
    ('M', "max-msgs", Arg::Number),
    ('x', "admin-operation", Arg::Number),
    ('s', "stats-port", Arg::Number),
    ('a', "stats-addr", Arg::Text),
    ('i', "stats-interval", Arg::Number),
    // Kept from the original's table so it keeps failing the same way.
    ('y', "admin-param", Arg::None),
];

/// The usage text (without the version line), in the original's order with
/// the options this version adds at the end.
pub fn usage() -> String {
    format!(
        "Usage: dynomite [-?hVdDt] [-v verbosity level] [-o output file]\n\
         \x20                 [-c conf file] [-p pid file]\n\
         \x20                 [-s stats port] [-a stats addr] [-i stats interval]\n\
         \x20                 [-m mbuf size (deprecated)] [-M max alloc messages (deprecated)]\n\
         \x20                 [-x admin operation]\n\
         \n\
         Options:\n\
         \x20 -h, --help             : this help\n\
         \x20 -V, --version          : show version and exit\n\
         \x20 -t, --test-conf        : test configuration for syntax errors and exit\n\
         \x20 -d, --daemonize        : run as a daemon\n\
         \x20 -D, --describe-stats   : print stats description and exit\n\
         \x20 -v, --verbosity=N      : set logging level (default: {DEFAULT_VERBOSITY}, min: 0, max: {MAX_VERBOSITY})\n\
         \x20 -o, --output=S         : set logging file (default: stderr)\n\
         \x20 -c, --conf-file=S      : set configuration file (default: {DEFAULT_CONF_FILE})\n\
         \x20 -p, --pid-file=S       : set pid file (default: off)\n\
         \x20 -m, --mbuf-size=N      : set size of mbuf chunk in bytes (default: {DEFAULT_MBUF_SIZE} bytes; deprecated, use mbuf_size)\n\
         \x20 -M, --max-msgs=N       : set max number of messages to allocate (default: {DEFAULT_MAX_MSGS}; deprecated, use max_msgs)\n\
         \x20 -x, --admin-operation=N: set admin operation mode (default: 0, off)\n\
         \x20 -s, --stats-port=N     : set stats monitoring port (default: stats_listen or {DEFAULT_STATS_PORT})\n\
         \x20 -a, --stats-addr=S     : set stats monitoring ip (default: stats_listen or {DEFAULT_STATS_ADDR})\n\
         \x20 -i, --stats-interval=N : set stats aggregation interval in msec (default: stats_interval or {DEFAULT_STATS_INTERVAL_MS} msec)\n"
    )
}

/// Parses the whole `argv`, program name first (as `std::env::args()` gives
/// it). The error is the one message to print before the usage, exit 1.
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut spec = getopts::Options::new();
    spec.parsing_style(getopts::ParsingStyle::FloatingFrees);
    for (short, long, arg) in OPTIONS {
        let (short, long) = (short.to_string(), long.to_string());
        if arg == Arg::None {
            spec.optflagmulti(&short, &long, "");
        } else {
            spec.optmulti(&short, &long, "", "");
        }
    }
    let words: Vec<String> = args.iter().skip(1).map(|a| expand_long(a)).collect();
    let matches = spec.parse(&words).map_err(|fail| fail_message(&fail))?;

    // Apply every occurrence in argv order, so the first bad one is reported
    // and the last good one wins.
    let mut given: Vec<(usize, char, Option<String>)> = Vec::new();
    for (short, _, arg) in OPTIONS {
        let name = short.to_string();
        if arg == Arg::None {
            for pos in matches.opt_positions(&name) {
                given.push((pos, short, None));
            }
        } else {
            for (pos, value) in matches.opt_strs_pos(&name) {
                given.push((pos, short, Some(value)));
            }
        }
    }
    given.sort_by_key(|(pos, _, _)| *pos);

    let mut options = Options::default();
    for (_, short, value) in given {
        apply(&mut options, short, value.unwrap_or_default())?;
    }
    debug_assert!(options.verbosity <= MAX_VERBOSITY);
    Ok(options)
}

fn apply(o: &mut Options, short: char, value: String) -> Result<(), String> {
    match short {
        'h' => o.help = true,
        'V' => o.version = true,
        't' => o.test_conf = true,
        'd' => o.daemonize = true,
        'D' => o.describe_stats = true,
        'v' => {
            if !is_digits(&value) {
                return Err(requires(short, Arg::Number));
            }
            // All digits: only overflow can fail, and that is clamped too.
            let level = value.parse::<u64>().unwrap_or(u64::MAX);
            o.verbosity = level.min(MAX_VERBOSITY as u64) as u8;
        }
        'o' => o.output = Some(value),
        'c' => o.conf_file = value,
        'p' => o.pid_file = Some(value),
        'm' => {
            let size = positive(&value).ok_or_else(|| non_zero('m'))? as usize;
            if !(MBUF_MIN_SIZE..=MBUF_MAX_SIZE).contains(&size) {
                return Err(format!(
                    "dynomite: mbuf chunk size must be between {MBUF_MIN_SIZE} and {MBUF_MAX_SIZE} bytes"
                ));
            }
            if !size.is_multiple_of(16) {
                return Err("dynomite: mbuf chunk size must be a multiple of 16".into());
            }
            o.mbuf_size = Some(size);
            o.warnings.push(MBUF_DEPRECATED.to_string());
        }
        'M' => {
            let msgs = positive(&value).ok_or_else(|| non_zero('M'))? as usize;
            if !(MIN_ALLOC_MSGS..=MAX_ALLOC_MSGS).contains(&msgs) {
                return Err(format!(
                    "dynomite: max allocated messages buffer must be between {MIN_ALLOC_MSGS} and \
                     {MAX_ALLOC_MSGS} messages"
                ));
            }
            o.max_msgs = Some(msgs);
            o.warnings.push(MAX_MSGS_DEPRECATED.to_string());
        }
        'x' => {
            let op = positive(&value)
                .filter(|n| *n <= u32::MAX as u64)
                .ok_or_else(|| {
                    "dynomite: option -x requires a non-zero positive number".to_string()
                })?;
            o.admin_op = op as u32;
        }
        's' => {
            if !is_digits(&value) {
                return Err(requires(short, Arg::Number));
            }
            let port = value
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("dynomite: option -s value {value} is not a valid port"))?;
            o.stats_port = Some(port);
        }
        'a' => {
            if value.is_empty() {
                return Err(requires(short, Arg::Text));
            }
            o.stats_addr = Some(value);
        }
        'i' => {
            if !is_digits(&value) {
                return Err(requires(short, Arg::Number));
            }
            let interval = value
                .parse::<u64>()
                .map_err(|_| format!("dynomite: option -i value {value} is too large"))?;
            o.stats_interval = Some(interval);
        }
        // Declared in the original's table but never handled.
        _ => return Err(invalid(&short.to_string())),
    }
    Ok(())
}

/// Rewrites `--verb=5` to `--verbosity=5` when the prefix names exactly one
/// long option, as `getopt_long` accepts; anything else is left alone.
fn expand_long(word: &str) -> String {
    let Some(body) = word.strip_prefix("--") else {
        return word.to_string();
    };
    let (name, rest) = match body.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (body, None),
    };
    if name.is_empty() || OPTIONS.iter().any(|(_, long, _)| *long == name) {
        return word.to_string();
    }
    let mut candidates = OPTIONS.iter().filter(|(_, long, _)| long.starts_with(name));
    match (candidates.next(), candidates.next()) {
        (Some((_, long, _)), None) => match rest {
            Some(value) => format!("--{long}={value}"),
            None => format!("--{long}"),
        },
        _ => word.to_string(),
    }
}

fn fail_message(fail: &getopts::Fail) -> String {
    match fail {
        getopts::Fail::ArgumentMissing(name) => match find(name) {
            Some(('x', _, _)) => invalid("x"),
            Some((short, _, arg)) => requires(short, arg),
            None => invalid(name),
        },
        getopts::Fail::UnrecognizedOption(name) => invalid(name),
        getopts::Fail::UnexpectedArgument(name) => {
            let long = find(name).map(|(_, long, _)| long).unwrap_or(name.as_str());
            format!("dynomite: option '--{long}' doesn't allow an argument")
        }
        other => format!("dynomite: {other}"),
    }
}

/// The table entry for a short letter or a long name.
fn find(name: &str) -> Option<(char, &'static str, Arg)> {
    OPTIONS.iter().copied().find(|(short, long, _)| {
        *long == name || (name.chars().count() == 1 && name.starts_with(*short))
    })
}

fn requires(short: char, arg: Arg) -> String {
    let what = match arg {
        Arg::FileName => "a file name",
        Arg::Text => "a string",
        Arg::Number | Arg::None => "a number",
    };
    format!("dynomite: option -{short} requires {what}")
}

fn non_zero(short: char) -> String {
    format!("dynomite: option -{short} requires a non-zero number")
}

/// `dynomite: invalid option -- 'c'`; a long name is shown with its dashes.
fn invalid(name: &str) -> String {
    if name.chars().count() == 1 {
        format!("dynomite: invalid option -- '{name}'")
    } else {
        format!("dynomite: invalid option -- '--{name}'")
    }
}

fn is_digits(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

/// A decimal number > 0 (no sign, no overflow).
fn positive(v: &str) -> Option<u64> {
    if !is_digits(v) {
        return None;
    }
    v.parse::<u64>().ok().filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        std::iter::once("dynomite")
            .chain(words.iter().copied())
            .map(String::from)
            .collect()
    }

    fn ok(words: &[&str]) -> Options {
        parse(&argv(words)).unwrap_or_else(|e| panic!("{words:?}: {e}"))
    }

    fn err(words: &[&str]) -> String {
        match parse(&argv(words)) {
            Ok(o) => panic!("{words:?}: expected an error, got {o:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn defaults() {
        let o = ok(&[]);
        assert_eq!(o, Options::default());
        assert_eq!(o.verbosity, 5);
        assert_eq!(o.conf_file, "conf/dynomite.yml");
        assert_eq!(o.admin_op, 0);
        assert!(o.warnings.is_empty());
    }

    #[test]
    fn flags_short_long_and_grouped() {
        let o = ok(&["-h", "-V", "-t", "-d", "-D"]);
        assert!(o.help && o.version && o.test_conf && o.daemonize && o.describe_stats);
        let o = ok(&[
            "--help",
            "--version",
            "--test-conf",
            "--daemonize",
            "--describe-stats",
        ]);
        assert!(o.help && o.version && o.test_conf && o.daemonize && o.describe_stats);
        let o = ok(&["-tdv7"]);
        assert!(o.test_conf && o.daemonize);
        assert_eq!(o.verbosity, 7);
        let o = ok(&["-t", "-t"]);
        assert!(o.test_conf);
        let o = ok(&["--test"]);
        assert!(o.test_conf, "unique prefix of --test-conf");
    }

    #[test]
    fn verbosity_forms() {
        for words in [
            &["-v6"][..],
            &["-v", "6"],
            &["--verbosity=6"],
            &["--verbosity", "6"],
            &["--verb=6"],
        ] {
            assert_eq!(ok(words).verbosity, 6, "{words:?}");
        }
        assert_eq!(ok(&["-v0"]).verbosity, 0);
        assert_eq!(ok(&["-v", "12"]).verbosity, 11);
        assert_eq!(ok(&["-v", "99999999999999999999999"]).verbosity, 11);
        assert_eq!(ok(&["-v", "3", "-v", "8"]).verbosity, 8, "last one wins");
    }

    #[test]
    fn values_and_permuted_words() {
        let o = ok(&[
            "start",
            "-c",
            "my.yml",
            "now",
            "--output=/tmp/d.log",
            "-p/tmp/d.pid",
            "-x",
            "1",
            "--stats-port",
            "22223",
            "-a",
            "127.0.0.1",
            "--stats-interval=1000",
            "please",
        ]);
        assert_eq!(o.conf_file, "my.yml");
        assert_eq!(o.output.as_deref(), Some("/tmp/d.log"));
        assert_eq!(o.pid_file.as_deref(), Some("/tmp/d.pid"));
        assert_eq!(o.admin_op, 1);
        assert_eq!(o.stats_port, Some(22223));
        assert_eq!(o.stats_addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(o.stats_interval, Some(1000));
        let o = ok(&["--conf-file", "a.yml", "--", "-v", "x"]);
        assert_eq!((o.conf_file.as_str(), o.verbosity), ("a.yml", 5));
    }

    #[test]
    fn deprecated_buffer_options() {
        let o = ok(&["-m", "512", "-M", "100000"]);
        assert_eq!(o.mbuf_size, Some(512));
        assert_eq!(o.max_msgs, Some(100_000));
        assert_eq!(o.warnings, [MBUF_DEPRECATED, MAX_MSGS_DEPRECATED]);
        let o = ok(&["--mbuf-size=512000", "--max-msgs=1000000"]);
        assert_eq!((o.mbuf_size, o.max_msgs), (Some(512_000), Some(1_000_000)));
        assert_eq!(
            MBUF_DEPRECATED,
            "-m or --mbuf-size command line arguments has been deprecated. Use configuration file."
        );
        assert_eq!(
            MAX_MSGS_DEPRECATED,
            "-M or max-msgs command line argument has been deprecated. Use configuration file."
        );
    }

    #[test]
    fn error_messages() {
        let table: &[(&[&str], &str)] = &[
            (&["-o"], "dynomite: option -o requires a file name"),
            (&["-c"], "dynomite: option -c requires a file name"),
            (&["-p"], "dynomite: option -p requires a file name"),
            (&["--conf-file"], "dynomite: option -c requires a file name"),
            (&["-v"], "dynomite: option -v requires a number"),
            (&["-m"], "dynomite: option -m requires a number"),
            (&["-M"], "dynomite: option -M requires a number"),
            (&["-s"], "dynomite: option -s requires a number"),
            (&["-i"], "dynomite: option -i requires a number"),
            (&["--verbosity"], "dynomite: option -v requires a number"),
            (&["-a"], "dynomite: option -a requires a string"),
            (&["-x"], "dynomite: invalid option -- 'x'"),
            (&["-y"], "dynomite: invalid option -- 'y'"),
            (&["--admin-param"], "dynomite: invalid option -- 'y'"),
            (&["-g"], "dynomite: invalid option -- 'g'"),
            (&["-?"], "dynomite: invalid option -- '?'"),
            (&["--gossip"], "dynomite: invalid option -- '--gossip'"),
            (&["--stats"], "dynomite: invalid option -- '--stats'"),
            (&["--help=yes"], "dynomite: option '--help' doesn't allow an argument"),
            (&["-v", "abc"], "dynomite: option -v requires a number"),
            (&["-v", "-1"], "dynomite: option -v requires a number"),
            (&["-v", "5x"], "dynomite: option -v requires a number"),
            (&["--verbosity="], "dynomite: option -v requires a number"),
            (&["-m", "0"], "dynomite: option -m requires a non-zero number"),
            (&["-m", "abc"], "dynomite: option -m requires a non-zero number"),
            (&["-m", "-16"], "dynomite: option -m requires a non-zero number"),
            (&["-m", "496"], "dynomite: mbuf chunk size must be between 512 and 512000 bytes"),
            (&["-m", "512016"], "dynomite: mbuf chunk size must be between 512 and 512000 bytes"),
            (&["-m", "520"], "dynomite: mbuf chunk size must be a multiple of 16"),
            (&["-M", "0"], "dynomite: option -M requires a non-zero number"),
            (&["-M", "lots"], "dynomite: option -M requires a non-zero number"),
            (
                &["-M", "99999"],
                "dynomite: max allocated messages buffer must be between 100000 and 1000000 messages",
            ),
            (
                &["-M", "1000001"],
                "dynomite: max allocated messages buffer must be between 100000 and 1000000 messages",
            ),
            (&["-x", "0"], "dynomite: option -x requires a non-zero positive number"),
            (&["-x", "-1"], "dynomite: option -x requires a non-zero positive number"),
            (&["-x", "one"], "dynomite: option -x requires a non-zero positive number"),
            (&["-s", "port"], "dynomite: option -s requires a number"),
            (&["-s", "65536"], "dynomite: option -s value 65536 is not a valid port"),
            (&["-s", "0"], "dynomite: option -s value 0 is not a valid port"),
            (&["-i", "1s"], "dynomite: option -i requires a number"),
            (&["--stats-addr="], "dynomite: option -a requires a string"),
            (&["-v", "x", "-m", "1"], "dynomite: option -v requires a number"),
            (&["-m", "1", "-v", "x"], "dynomite: mbuf chunk size must be between 512 and 512000 bytes"),
        ];
        for (words, message) in table {
            assert_eq!(err(words), *message, "{words:?}");
        }
    }

    #[test]
    fn usage_lists_every_option_in_order() {
        let text = usage();
        let order = [
            "-h, --help",
            "-V, --version",
            "-t, --test-conf",
            "-d, --daemonize",
            "-D, --describe-stats",
            "-v, --verbosity=N",
            "-o, --output=S",
            "-c, --conf-file=S",
            "-p, --pid-file=S",
            "-m, --mbuf-size=N",
            "-M, --max-msgs=N",
            "-x, --admin-operation=N",
            "-s, --stats-port=N",
            "-a, --stats-addr=S",
            "-i, --stats-interval=N",
        ];
        let mut from = 0;
        for entry in order {
            let at = text[from..]
                .find(entry)
                .unwrap_or_else(|| panic!("{entry} missing or out of order"));
            from += at + entry.len();
        }
        assert!(text.contains("default: 5, min: 0, max: 11"));
        assert!(text.contains("default: conf/dynomite.yml"));
        assert!(text.starts_with("Usage: dynomite "));
    }
}
