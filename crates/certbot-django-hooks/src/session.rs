//! What every hook run does before its first request, in one place: the run's deadline, the key
//! for the identifier (the `--key-file`, or the older plugin's per-domain file), and the API
//! client for the site that serves the identifier.
//!
//! The auth, cleanup and deploy hooks and `auth-hook check` each open a [`Session`] and then do
//! only what is theirs: push and self-check, delete, report a certificate, or run the probe.

use std::path::{Path, PathBuf};

use crate::api::ApiClient;
use crate::challenge::Identifier;
use crate::config::Settings;
use crate::deadline::Deadline;
use crate::error::Error;
use crate::key::{self, Signer};
use crate::output::Reporter;

/// One run against one site: its settings, deadline, key and reporter.
pub struct Session<'a> {
    settings: &'a Settings,
    identifier: Identifier,
    deadline: Deadline,
    key_path: PathBuf,
    signer: Signer,
    reporter: &'a Reporter,
}

impl<'a> Session<'a> {
    /// Loads the key for `identifier` (reported with `-v`); `deadline` is the run's, started
    /// when the run began.
    pub fn open(
        settings: &'a Settings,
        identifier: &Identifier,
        deadline: Deadline,
        reporter: &'a Reporter,
    ) -> Result<Self, Error> {
        let key_path = settings.key_path(identifier)?;
        let signer = key::load_key_file(&key_path)?;
        reporter.step(format_args!(
            "loaded {} key {} (kid {})",
            signer.key_type(),
            key_path.display(),
            signer.kid()
        ));
        Ok(Session {
            settings,
            identifier: identifier.clone(),
            deadline,
            key_path,
            signer,
            reporter,
        })
    }

    /// The key file in use.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    /// The key that signs the requests.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The API client for the site, bound by the run's deadline.
    pub fn api(&self) -> Result<ApiClient<'_>, Error> {
        self.api_until(self.deadline)
    }

    /// The API client for the site, bound by `deadline` (the check ends its push early to keep
    /// time for the delete).
    pub fn api_until(&self, deadline: Deadline) -> Result<ApiClient<'_>, Error> {
        ApiClient::new(
            self.settings,
            &self.identifier,
            &self.signer,
            deadline,
            self.reporter,
        )
    }
}
