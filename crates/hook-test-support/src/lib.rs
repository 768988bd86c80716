//! Helpers for the hooks' CLI tests, one module per job: [`server`] a scripted in-process HTTP
//! server, [`fake_site`] the challenge API on it, [`runner`] running a built binary and judging
//! its output, [`fixtures`] a test's directory, key and config file.
//!
//! A fake server is only for faults the real Django app cannot produce on demand; the real app
//! is exercised end to end elsewhere (`tests/`).

pub mod fake_site;
pub mod fixtures;
pub mod runner;
pub mod server;

pub use fake_site::{
    BATCH, BATCH_DELETE, REPORTS, Serving, Store, batch_requests, batch_size, check_report,
    fake_site, fake_site_at, refuse_without_jwt, without_batches,
};
pub use fixtures::{
    TestDir, config_file, key_file, keyed_dir, make_fifo, running_as_root, temp_dir,
};
pub use runner::{
    Outcome, assert_refused_before_sending, certbot_env, certbot_env_with, connection_refused,
    hook_args, hook_args_with, key_command, run, run_hook,
};
pub use server::{Reply, Request, TestServer, body_sha256, closed_port};

/// A token as certbot passes it.
pub const TOKEN: &str = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";

/// A key authorization for [`TOKEN`].
pub const VALIDATION: &str =
    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ";

/// The domain the tests certify; `--resolve` points it at 127.0.0.1.
pub const DOMAIN: &str = "example.test";
