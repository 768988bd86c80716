//! The exact stderr (and stdout) of the failures that need no network, as snapshot files in
//! `tests/cmd/`: one `.toml` per case, its files in `NAME.in/`. `TRYCMD=overwrite cargo test -p
//! certbot-django-hooks-bin --test snapshots` rewrites them after a deliberate change of wording.

#[test]
fn failures_that_need_no_network_print_exactly_their_snapshot() {
    trycmd::TestCases::new().case("tests/cmd/*.toml");
}
