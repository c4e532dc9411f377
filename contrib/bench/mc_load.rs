//! A memcached load generator (text protocol) for contrib/bench/bench.sh:
//! the same options and output line as contrib/bench/mc-load.py, in Rust so
//! that the load tool is not the bottleneck. Keys are printable
//! (`memtest:<n>`), which the proxy requires; memaslap's keys hold control
//! bytes, which it refuses.
//!
//! Each of `--threads` threads drives its share of `--conns` connections:
//! it writes a batch of `--pipeline` requests on every connection, then
//! reads every reply, until `--requests` requests are done or `--seconds`
//! have passed. Latency is from writing a batch to reading its last reply.
//!
//! Output: `ops=<req/s> avg_ms=<n> p50_ms=<n> p99_ms=<n> requests=<n> misses=<n>`
//!
//! Run: `cargo run --release --example mc_load -- --port 11211 --op get`

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    host: String,
    port: u16,
    op: String,
    conns: usize,
    pipeline: usize,
    requests: u64,
    seconds: f64,
    keyspace: u64,
    size: usize,
    threads: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 0,
        op: String::new(),
        conns: 50,
        pipeline: 1,
        requests: 100_000,
        seconds: 10.0,
        keyspace: 10_000,
        size: 3,
        threads: 2,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let v = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--host" => a.host = v,
            "--port" => a.port = v.parse().expect("--port"),
            "--op" => a.op = v,
            "--conns" => a.conns = v.parse().expect("--conns"),
            "--pipeline" => a.pipeline = v.parse().expect("--pipeline"),
            "--requests" => a.requests = v.parse().expect("--requests"),
            "--seconds" => a.seconds = v.parse().expect("--seconds"),
            "--keyspace" => a.keyspace = v.parse().expect("--keyspace"),
            "--size" => a.size = v.parse().expect("--size"),
            "--threads" => a.threads = v.parse().expect("--threads"),
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    assert!(a.port > 0, "--port is required");
    assert!(a.op == "set" || a.op == "get", "--op set|get");
    a
}

/// A small xorshift generator: keys only need to be spread, not secret.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn request(out: &mut Vec<u8>, op: &str, key: u64, value: &[u8]) {
    if op == "set" {
        write!(out, "set memtest:{key} 0 0 {}\r\n", value.len()).unwrap();
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    } else {
        write!(out, "get memtest:{key}\r\n").unwrap();
    }
}

/// Reads one reply; true for a stored value (set) or a hit (get).
fn read_reply(r: &mut BufReader<TcpStream>, op: &str, line: &mut Vec<u8>) -> bool {
    line.clear();
    r.read_until(b'\n', line).expect("read");
    if op == "set" {
        assert_eq!(
            line,
            b"STORED\r\n",
            "set: unexpected reply {:?}",
            String::from_utf8_lossy(line)
        );
        return true;
    }
    let mut hit = false;
    loop {
        if line == b"END\r\n" {
            return hit;
        }
        assert!(
            line.starts_with(b"VALUE "),
            "get: unexpected reply {:?}",
            String::from_utf8_lossy(line)
        );
        let size: usize = String::from_utf8_lossy(line)
            .split_whitespace()
            .nth(3)
            .and_then(|s| s.parse().ok())
            .expect("size");
        let mut data = vec![0u8; size + 2];
        r.read_exact(&mut data).expect("read value");
        hit = true;
        line.clear();
        r.read_until(b'\n', line).expect("read");
    }
}

fn connect(a: &Args) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect((a.host.as_str(), a.port)).expect("connect");
    s.set_nodelay(true).ok();
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let r = BufReader::with_capacity(64 * 1024, s.try_clone().expect("clone"));
    (s, r)
}

fn main() {
    let a = Arc::new(parse_args());
    let value = vec![b'x'; a.size];
    if a.op == "get" {
        // Store every key first, so that gets hit.
        let (mut s, mut r) = connect(&a);
        let mut line = Vec::new();
        for start in (0..a.keyspace).step_by(100) {
            let mut out = Vec::new();
            let end = (start + 100).min(a.keyspace);
            for k in start..end {
                request(&mut out, "set", k, &value);
            }
            s.write_all(&out).expect("write");
            for _ in start..end {
                read_reply(&mut r, "set", &mut line);
            }
        }
    }
    let budget = Arc::new(AtomicU64::new(a.requests));
    let misses = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(a.seconds);
    let threads = a.threads.clamp(1, a.conns.max(1));
    let mut handles = Vec::new();
    for t in 0..threads {
        let (a, budget, misses, value) = (a.clone(), budget.clone(), misses.clone(), value.clone());
        handles.push(std::thread::spawn(move || {
            let n = a.conns / threads + usize::from(t < a.conns % threads);
            let mut conns: Vec<_> = (0..n).map(|_| connect(&a)).collect();
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1));
            let (mut lat, mut done, mut line, mut out) = (Vec::new(), 0u64, Vec::new(), Vec::new());
            'outer: while Instant::now() < deadline {
                let t0 = Instant::now();
                let mut sent = Vec::with_capacity(conns.len());
                for (s, _) in conns.iter_mut() {
                    let want = a.pipeline as u64;
                    let got = budget.fetch_sub(want, Ordering::Relaxed);
                    if got < want {
                        budget.store(0, Ordering::Relaxed);
                        if sent.is_empty() {
                            break 'outer;
                        }
                        break;
                    }
                    out.clear();
                    for _ in 0..a.pipeline {
                        request(&mut out, &a.op, rng.next(a.keyspace), &value);
                    }
                    s.write_all(&out).expect("write");
                    sent.push(a.pipeline);
                }
                for ((_, r), &k) in conns.iter_mut().zip(&sent) {
                    for _ in 0..k {
                        if !read_reply(r, &a.op, &mut line) {
                            misses.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    done += k as u64;
                }
                let took = t0.elapsed().as_secs_f64();
                lat.extend(std::iter::repeat_n(took, sent.iter().sum::<usize>()));
            }
            (lat, done)
        }));
    }
    let mut lat = Vec::new();
    let mut done = 0;
    for h in handles {
        let (l, d) = h.join().expect("worker");
        lat.extend(l);
        done += d;
    }
    let elapsed = started.elapsed().as_secs_f64();
    if lat.is_empty() {
        eprintln!("no request completed");
        std::process::exit(1);
    }
    lat.sort_by(|x, y| x.total_cmp(y));
    let ms = |q: f64| lat[((q * lat.len() as f64) as usize).min(lat.len() - 1)] * 1000.0;
    let avg = lat.iter().sum::<f64>() / lat.len() as f64 * 1000.0;
    println!(
        "ops={:.0} avg_ms={:.3} p50_ms={:.3} p99_ms={:.3} requests={} misses={}",
        done as f64 / elapsed,
        avg,
        ms(0.50),
        ms(0.99),
        done,
        misses.load(Ordering::Relaxed)
    );
}
