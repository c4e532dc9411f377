//! dynomite-hash-tool (tools/dyn_hash_tool.c): prints the token of each key.
//!
//! ```text
//! -i FILE (default stdin) --one key per line--> hash --> -o FILE (default stdout)
//!                                                  one decimal token per line,
//!                                                  after `KEY:<key>` with -k
//! ```
//!
//! A key is a line without its `\n`; every other byte (CR, NUL, high bytes)
//! is part of the key. A last line without `\n` is a key too. `-h` and option
//! errors print the usage to stderr and exit 22 (EINVAL), as the original
//! does. `-H NAME` (choose another hash than murmur) is an extension.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;

use dynomite::hashkit::HashKind;

/// Exit status for `-h` and option errors (EINVAL).
const EXIT_USAGE: u8 = 22;
/// Exit status when a file cannot be opened, read or written.
const EXIT_IO: u8 = 1;
/// The name meaning stdin for `-i` and stdout for `-o`.
const STDIO_NAME: &str = "-";

/// What the command line asks for.
struct Options {
    /// Input path, `-` for stdin.
    input: String,
    /// Output path, `-` for stdout.
    output: String,
    /// Whether to write `KEY:<key>` before each token.
    show_key: bool,
    /// The hash used on each key.
    hash: HashKind,
}

fn usage() -> String {
    let names: Vec<&str> = HashKind::ALL.iter().map(|(_, n)| *n).collect();
    format!(
        "Usage: dynomite-hash-tool [-hk] [-i input file] [-o output file] [-H hash]\n\
         \n\
         Options:\n  \
         -h           : this help\n  \
         -k           : write KEY:<key> before each token\n  \
         -i FILE      : read one key per line from FILE (default: - = stdin)\n  \
         -o FILE      : write one token per line to FILE (default: - = stdout)\n  \
         -H NAME      : hash to use (default: murmur); one of:\n                 \
         {}\n",
        names.join(", ")
    )
}

/// Prints `message` (if any) and the usage to stderr; returns the exit code.
fn usage_exit(message: Option<String>) -> ExitCode {
    if let Some(message) = message {
        eprintln!("{}", message);
    }
    eprint!("{}", usage());
    ExitCode::from(EXIT_USAGE)
}

/// Parses the command line; `Err` holds the exit code to return.
fn parse_args(args: &[String]) -> Result<Options, ExitCode> {
    let mut opts = getopts::Options::new();
    opts.optflag("h", "", "");
    opts.optflag("k", "", "");
    opts.optopt("i", "", "", "FILE");
    opts.optopt("o", "", "", "FILE");
    opts.optopt("H", "", "", "NAME");

    let matches = match opts.parse(args) {
        Ok(m) => m,
        Err(getopts::Fail::ArgumentMissing(name)) => {
            let what = if name == "H" {
                "a hash name"
            } else {
                "a file name"
            };
            return Err(usage_exit(Some(format!(
                "dynomite: option -{} requires {}",
                name, what
            ))));
        }
        Err(getopts::Fail::UnrecognizedOption(name)) => {
            return Err(usage_exit(Some(format!(
                "dynomite: invalid option -- '{}'",
                name
            ))));
        }
        Err(fail) => return Err(usage_exit(Some(format!("dynomite: {}", fail)))),
    };
    if matches.opt_present("h") {
        return Err(usage_exit(None));
    }
    let hash = match matches.opt_str("H") {
        None => HashKind::Murmur,
        Some(name) => match HashKind::from_name(&name) {
            Some(kind) => kind,
            None => {
                return Err(usage_exit(Some(format!(
                    "dynomite: '{}' is not a valid hash",
                    name
                ))))
            }
        },
    };
    Ok(Options {
        input: matches
            .opt_str("i")
            .unwrap_or_else(|| STDIO_NAME.to_string()),
        output: matches
            .opt_str("o")
            .unwrap_or_else(|| STDIO_NAME.to_string()),
        show_key: matches.opt_present("k"),
        hash,
    })
}

/// Hashes every line of `input` into `output`.
fn run(input: &mut dyn BufRead, output: &mut dyn Write, options: &Options) -> io::Result<()> {
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = input.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        debug_assert!(n == line.len());
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if options.show_key {
            output.write_all(b"KEY:")?;
            output.write_all(&line)?;
            output.write_all(b"\n")?;
        }
        writeln!(output, "{}", options.hash.hash(&line))?;
    }
    output.flush()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_args(&args) {
        Ok(options) => options,
        Err(code) => return code,
    };

    let mut input: Box<dyn BufRead> = if options.input == STDIO_NAME {
        Box::new(io::stdin().lock())
    } else {
        match File::open(&options.input) {
            Ok(f) => Box::new(BufReader::new(f)),
            Err(e) => {
                eprintln!(
                    "dynomite: cannot open input file '{}': {}",
                    options.input, e
                );
                return ExitCode::from(EXIT_IO);
            }
        }
    };
    let mut output: Box<dyn Write> = if options.output == STDIO_NAME {
        Box::new(BufWriter::new(io::stdout().lock()))
    } else {
        match File::create(&options.output) {
            Ok(f) => Box::new(BufWriter::new(f)),
            Err(e) => {
                eprintln!(
                    "dynomite: cannot open output file '{}': {}",
                    options.output, e
                );
                return ExitCode::from(EXIT_IO);
            }
        }
    };

    match run(&mut *input, &mut *output, &options) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dynomite: {}", e);
            ExitCode::from(EXIT_IO)
        }
    }
}
