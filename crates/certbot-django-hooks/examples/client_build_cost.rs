//! Prints what building the hooks' HTTP client costs with and without TLS roots.
//!
//! `cargo run --release --example client_build_cost [RUNS]`
//!
//! A hook process builds one client per run, so each measurement is the first build in a fresh
//! process (this program re-runs itself once per sample): that includes the one-time setup a real
//! hook pays. "https" loads the system root store, as the API client does for an https:// server;
//! "plain http" is what it builds for an http:// server; "self-check" is the accept-any client.

use std::process::Command;
use std::time::{Duration, Instant};

use certbot_django_hooks::{TlsMode, build_client};

fn one(mode: &str) {
    let tls = match mode {
        "https" => TlsMode::Verified,
        "http" => TlsMode::PlainHttp,
        _ => TlsMode::AcceptAny,
    };
    let started = Instant::now();
    let client = build_client(tls, &[], None, Duration::from_secs(10)).expect("client builds");
    let micros = started.elapsed().as_micros();
    drop(client);
    println!("{micros}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "--one" {
        one(&args[2]);
        return;
    }
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(15);
    let me = std::env::current_exe().expect("own path");
    let roots = std::fs::read_dir("/etc/ssl/certs")
        .map(|d| d.count())
        .unwrap_or(0);
    println!(
        "client build time, first build in a fresh process, {runs} runs each ({roots} entries in /etc/ssl/certs):"
    );
    for (mode, label) in [
        ("https", "https (system roots)"),
        ("http", "plain http (no roots)"),
        ("self-check", "self-check (accept any)"),
    ] {
        let mut samples: Vec<f64> = (0..runs)
            .map(|_| {
                let out = Command::new(&me)
                    .args(["--one", mode])
                    .output()
                    .expect("re-run");
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse::<f64>()
                    .expect("microseconds")
                    / 1000.0
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        let median = samples[samples.len() / 2];
        println!(
            "  {label:26} median {median:7.2} ms   min {:7.2} ms   max {:7.2} ms",
            samples[0],
            samples[samples.len() - 1]
        );
    }
}
