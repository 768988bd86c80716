//! Replays the fuzzers' committed inputs through the fuzzers' own checks, on stable Rust.
//!
//! `fuzz/` needs cargo-fuzz and a sanitizer build; this test needs neither. It compiles
//! `fuzz/src/lib.rs` (the fuzz targets' bodies and invariants) as a module and runs every file of
//! `fuzz/seeds/<target>/` and `fuzz/corpus/<target>/` through it, so a change that breaks an
//! invariant on any input the fuzzers ever kept fails `cargo test`.

#[path = "../../../fuzz/src/lib.rs"]
mod fuzz_checks;

use std::path::{Path, PathBuf};

/// Every committed input of one target. An empty or missing directory fails: a replay of
/// nothing proves nothing.
fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files = Vec::new();
    for dir in ["seeds", "corpus"] {
        let dir = fuzz.join(dir).join(target);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        let before = files.len();
        files.extend(entries.map(|entry| entry.unwrap().path()));
        assert!(files.len() > before, "{} is empty", dir.display());
    }
    files.sort();
    files
}

/// Runs every input through `check`, which panics on a broken invariant and returns whether the
/// input was accepted. Both outcomes must occur, or the corpus no longer exercises the checks on
/// success (or on failure) and the replay would pass without proving anything.
fn replay(target: &str, check: fn(&[u8]) -> bool) {
    let (mut accepted, mut rejected) = (0, 0);
    for path in inputs(target) {
        let data = std::fs::read(&path).unwrap();
        // Printed only when the test fails: names the input that broke an invariant.
        eprintln!("{target}: {}", path.display());
        if check(&data) {
            accepted += 1;
        } else {
            rejected += 1;
        }
    }
    assert!(
        accepted > 0 && rejected > 0,
        "{target}: {accepted} inputs accepted, {rejected} rejected"
    );
}

#[test]
fn every_certbot_environment_in_the_corpus_keeps_the_challenge_invariants() {
    replay("certbot_env", fuzz_checks::certbot_env);
}

#[test]
fn every_key_file_in_the_corpus_keeps_the_signer_invariants() {
    replay("key_pem", fuzz_checks::key_pem);
}

#[test]
fn every_config_file_in_the_corpus_keeps_the_settings_invariants() {
    replay("config_toml", fuzz_checks::config_toml);
}

#[test]
fn the_environment_format_is_nul_separated_name_value_pairs() {
    let env = fuzz_checks::parse_environ(b"A=1\0junk\0B==2\0\0A=3");
    assert_eq!(
        env,
        vec![
            (&b"A"[..], &b"1"[..]),
            (&b"B"[..], &b"=2"[..]),
            (&b"A"[..], &b"3"[..])
        ]
    );
}
