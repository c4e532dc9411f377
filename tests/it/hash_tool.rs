//! Runs the built `dynomite-hash-tool` on the golden keys and checks its
//! tokens, its options and its exit codes.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::golden::{rows, unhex, MURMUR_TOKENS};

const TOOL: &str = env!("CARGO_BIN_EXE_dynomite-hash-tool");

/// The golden keys the tool can read (those without a newline), with their
/// murmur tokens.
fn golden_keys() -> Vec<(Vec<u8>, u32)> {
    let keys: Vec<(Vec<u8>, u32)> = rows(MURMUR_TOKENS)
        .into_iter()
        .map(|row| (unhex(row[0]), row[2].parse().unwrap()))
        .filter(|(key, _)| !key.contains(&b'\n'))
        .collect();
    assert!(keys.len() > 150);
    keys
}

/// The keys as the tool's input: one per line.
fn input_of(keys: &[(Vec<u8>, u32)]) -> Vec<u8> {
    let mut input = Vec::new();
    for (key, _) in keys {
        input.extend_from_slice(key);
        input.push(b'\n');
    }
    input
}

/// A fresh path for this test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hash_tool");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}-{}", std::process::id(), name))
}

/// Runs the tool with `args`, feeding `stdin`.
fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(TOOL)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dynomite-hash-tool");
    let mut pipe = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // Write from another thread so a full stdout pipe cannot deadlock us.
    let writer = std::thread::spawn(move || pipe.write_all(&data));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    output
}

/// The decimal tokens of the tool's output.
fn tokens_of(stdout: &[u8]) -> Vec<u32> {
    std::str::from_utf8(stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

#[test]
fn golden_keys_from_file() {
    let keys = golden_keys();
    let path = scratch("keys.txt");
    std::fs::write(&path, input_of(&keys)).unwrap();
    let output = run(&["-i", path.to_str().unwrap()], b"");
    assert!(output.status.success(), "{:?}", output);
    let want: Vec<u32> = keys.iter().map(|(_, t)| *t).collect();
    assert_eq!(tokens_of(&output.stdout), want);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn golden_keys_from_stdin_with_keys_shown() {
    let keys = golden_keys();
    let output = run(&["-k"], &input_of(&keys));
    assert!(output.status.success(), "{:?}", output);
    let mut want = Vec::new();
    for (key, token) in &keys {
        want.extend_from_slice(b"KEY:");
        want.extend_from_slice(key);
        want.push(b'\n');
        want.extend_from_slice(format!("{}\n", token).as_bytes());
    }
    assert!(output.stdout == want, "KEY:/token lines differ");
}

#[test]
fn output_file_and_last_line_without_newline() {
    let path = scratch("tokens.txt");
    let output = run(&["-o", path.to_str().unwrap(), "-i", "-"], b"foo\nbar");
    assert!(output.status.success(), "{:?}", output);
    assert!(output.stdout.is_empty());
    let written = std::fs::read(&path).unwrap();
    assert_eq!(tokens_of(&written), vec![3303027599, 516654467]);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn empty_lines_and_carriage_returns_are_keys() {
    // "" hashes to 0; "a\r" keeps its CR.
    let output = run(&[], b"\na\r\na\n");
    assert!(output.status.success(), "{:?}", output);
    let want = vec![
        0,
        dynomite::hashkit::HashKind::Murmur.hash(b"a\r"),
        1262581116,
    ];
    assert_eq!(tokens_of(&output.stdout), want);
}

#[test]
fn other_hash_by_name() {
    let output = run(&["-H", "md5"], b"a\nfoo\n");
    assert!(output.status.success(), "{:?}", output);
    assert_eq!(tokens_of(&output.stdout), vec![3111502092, 3675831724]);
}

#[test]
fn help_exits_22() {
    let output = run(&["-h"], b"");
    assert_eq!(output.status.code(), Some(22));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("Usage: dynomite-hash-tool"),
        "{}",
        stderr
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn invalid_option_exits_22() {
    let output = run(&["-x"], b"");
    assert_eq!(output.status.code(), Some(22));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let mut lines = stderr.lines();
    assert_eq!(lines.next(), Some("dynomite: invalid option -- 'x'"));
    assert_eq!(
        lines.next().map(|l| l.starts_with("Usage:")),
        Some(true),
        "{}",
        stderr
    );
}

#[test]
fn bad_hash_name_and_missing_argument_exit_22() {
    for args in [&["-H", "sha1"][..], &["-i"][..]] {
        let output = run(args, b"");
        assert_eq!(output.status.code(), Some(22), "{:?}", args);
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn missing_input_file_fails() {
    let path = scratch("does-not-exist");
    let output = run(&["-i", path.to_str().unwrap()], b"");
    assert_eq!(output.status.code(), Some(1));
}
