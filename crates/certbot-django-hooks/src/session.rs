//! What every hook run does before its first request, in one place, once per process: the run's
//! deadline, the keys (each key file loaded once: the `--key-file`, or the older plugin's
//! per-domain files), and one API client per site, kept for every request of the run.
//!
//! The auth, cleanup and deploy hooks and `auth-hook check` each open one [`Session`] and then do
//! only what is theirs: push and self-check, delete, report a certificate, or run the probe.
//! Several challenges of one process (certbot's last auth hook with the spool, dehydrated's
//! `HOOK_CHAIN`) go through one session: [`Session::sites`] groups them by site URL and key, and
//! [`Sites`] pushes and deletes each group in one request ([`ApiClient::push_batch`]), or one by
//! one over the same client when the site has no batches. After a failure the same clients
//! delete what may be stored, with a shorter deadline ([`Sites::with_deadline`]): never a second
//! session.

use std::path::{Path, PathBuf};

use reqwest::Url;

use crate::api::{ApiClient, Batch, DeleteOutcome, MAX_BATCH};
use crate::challenge::{Challenge, Identifier};
use crate::config::Settings;
use crate::deadline::Deadline;
use crate::error::Error;
use crate::key::{self, Signer};
use crate::output::Reporter;

/// One run against the site(s) of its challenges: settings, deadline, keys and reporter.
pub struct Session<'a> {
    settings: &'a Settings,
    identifier: Identifier,
    deadline: Deadline,
    /// Each key file once, the first identifier's first.
    keys: Vec<(PathBuf, Signer)>,
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
        Self::open_for(
            settings,
            std::slice::from_ref(identifier),
            deadline,
            reporter,
        )
    }

    /// [`Self::open`] for the identifiers of several challenges: each distinct key file is
    /// loaded once. `identifiers` must not be empty.
    pub fn open_for(
        settings: &'a Settings,
        identifiers: &[Identifier],
        deadline: Deadline,
        reporter: &'a Reporter,
    ) -> Result<Self, Error> {
        let first = identifiers
            .first()
            .ok_or_else(|| Error::config("the challenges", "there are none"))?;
        let mut keys: Vec<(PathBuf, Signer)> = Vec::new();
        for identifier in identifiers {
            let key_path = settings.key_path(identifier)?;
            if keys.iter().any(|(p, _)| *p == key_path) {
                continue;
            }
            let signer = key::load_key_file(&key_path)?;
            reporter.step(format_args!(
                "loaded {} key {} (kid {})",
                signer.key_type(),
                key_path.display(),
                signer.kid()
            ));
            keys.push((key_path, signer));
        }
        Ok(Session {
            settings,
            identifier: first.clone(),
            deadline,
            keys,
            reporter,
        })
    }

    /// The key file in use (the first identifier's).
    pub fn key_path(&self) -> &Path {
        &self.keys[0].0
    }

    /// The key that signs the requests (the first identifier's).
    pub fn signer(&self) -> &Signer {
        &self.keys[0].1
    }

    /// The API client for the first identifier's site, bound by the run's deadline.
    pub fn api(&self) -> Result<ApiClient<'_>, Error> {
        self.api_until(self.deadline)
    }

    /// The API client for the first identifier's site, bound by `deadline` (the check ends its
    /// push early to keep time for the delete).
    pub fn api_until(&self, deadline: Deadline) -> Result<ApiClient<'_>, Error> {
        ApiClient::new(
            self.settings,
            &self.identifier,
            self.signer(),
            deadline,
            self.reporter,
        )
    }

    /// The sites of `challenges`, grouped by site URL and key file, one API client each, built
    /// once. Normally there is one.
    pub fn sites(&self, challenges: &[Challenge]) -> Result<Sites<'_>, Error> {
        let mut sites: Vec<Site<'_>> = Vec::new();
        for (i, challenge) in challenges.iter().enumerate() {
            let base = self.settings.server_url(challenge.identifier())?;
            let key_path = self.settings.key_path(challenge.identifier())?;
            if let Some(site) = sites
                .iter_mut()
                .find(|s| s.base == base && s.key_path == key_path)
            {
                site.members.push(i);
                continue;
            }
            let signer = self
                .keys
                .iter()
                .find(|(p, _)| *p == key_path)
                .map(|(_, s)| s)
                .ok_or_else(|| {
                    Error::config(
                        "the session",
                        format!("key {} was not loaded", key_path.display()),
                    )
                })?;
            let api = ApiClient::new(
                self.settings,
                challenge.identifier(),
                signer,
                self.deadline,
                self.reporter,
            )?;
            sites.push(Site {
                base,
                key_path,
                api,
                members: vec![i],
            });
        }
        Ok(Sites {
            sites,
            reporter: self.reporter,
        })
    }
}

/// One site and key, with its client and the challenges (indices) that go there.
struct Site<'s> {
    base: Url,
    key_path: PathBuf,
    api: ApiClient<'s>,
    members: Vec<usize>,
}

/// The API clients of a session's challenges, one per site and key.
pub struct Sites<'s> {
    sites: Vec<Site<'s>>,
    reporter: &'s Reporter,
}

/// Why a push of several challenges failed, and which of them may be on a site now.
#[derive(Debug)]
pub struct PushFailed {
    /// The failure.
    pub error: Error,
    /// Indices of the challenges that may be stored: those pushed before, and the failing
    /// request's own when the site may have stored it all the same.
    pub may_be_stored: Vec<usize>,
}

/// What deleting several challenges came to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Deleted {
    /// Challenges deleted.
    pub deleted: usize,
    /// Challenges that were not there.
    pub absent: usize,
    /// Requests made.
    pub requests: usize,
}

impl<'s> Sites<'s> {
    /// The same clients (and connection pools) with another deadline.
    pub fn with_deadline(&self, deadline: Deadline) -> Sites<'s> {
        Sites {
            sites: self
                .sites
                .iter()
                .map(|s| Site {
                    base: s.base.clone(),
                    key_path: s.key_path.clone(),
                    api: s.api.with_deadline(deadline),
                    members: s.members.clone(),
                })
                .collect(),
            reporter: self.reporter,
        }
    }

    /// The base URL of the site `challenge` (an index) goes to, for messages.
    pub fn base_of(&self, challenge: usize) -> Option<&Url> {
        self.sites
            .iter()
            .find(|s| s.members.contains(&challenge))
            .map(|s| &s.base)
    }

    /// Pushes every challenge: with `batch`, one request per site (of at most [`MAX_BATCH`]),
    /// or one by one over the same client when the site has no batches; without, one by one.
    pub fn push(&self, challenges: &[Challenge], batch: bool) -> Result<(), PushFailed> {
        let mut done: Vec<usize> = Vec::new();
        for site in &self.sites {
            for chunk in site.members.chunks(MAX_BATCH) {
                let items: Vec<Challenge> = chunk.iter().map(|&i| challenges[i].clone()).collect();
                if batch && items.len() > 1 {
                    match site.api.push_batch(&items) {
                        Ok(Batch::Done(status)) => {
                            self.reporter.step(format_args!(
                                "{} challenges stored at {} in one request ({status})",
                                items.len(),
                                site.base
                            ));
                            done.extend(chunk);
                            continue;
                        }
                        Ok(Batch::Unsupported) => self.reporter.step(format_args!(
                            "{} has no batch endpoint (an older server): pushing one by one over \
                             the same client",
                            site.base
                        )),
                        Err(error) => {
                            if error.push_may_have_stored() {
                                done.extend(chunk);
                            }
                            return Err(PushFailed {
                                error,
                                may_be_stored: done,
                            });
                        }
                    }
                }
                for &i in chunk {
                    match site.api.push(&challenges[i]) {
                        Ok(status) => {
                            self.reporter.step(format_args!(
                                "challenge {} stored ({status})",
                                challenges[i].token()
                            ));
                            done.push(i);
                        }
                        Err(error) => {
                            if error.push_may_have_stored() {
                                done.push(i);
                            }
                            return Err(PushFailed {
                                error,
                                may_be_stored: done,
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Deletes the challenges with these indices: with `batch`, one request per site (of at
    /// most [`MAX_BATCH`]), or one by one over the same client when the site has no batches;
    /// without, one by one. Every site is tried; the first failure is returned.
    pub fn delete(
        &self,
        challenges: &[Challenge],
        which: &[usize],
        batch: bool,
    ) -> Result<Deleted, Error> {
        let mut result = Deleted::default();
        let mut first_error = None;
        for site in &self.sites {
            let members: Vec<usize> = site
                .members
                .iter()
                .copied()
                .filter(|i| which.contains(i))
                .collect();
            for chunk in members.chunks(MAX_BATCH) {
                if let Err(e) = self.delete_chunk(site, challenges, chunk, batch, &mut result) {
                    self.reporter
                        .step(format_args!("delete at {} failed: {e}", site.base));
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(result), Err)
    }

    fn delete_chunk(
        &self,
        site: &Site<'_>,
        challenges: &[Challenge],
        chunk: &[usize],
        batch: bool,
        result: &mut Deleted,
    ) -> Result<(), Error> {
        if batch && chunk.len() > 1 {
            let tokens: Vec<&str> = chunk.iter().map(|&i| challenges[i].token()).collect();
            result.requests += 1;
            match site.api.delete_batch(&tokens)? {
                Batch::Done(d) => {
                    self.reporter.step(format_args!(
                        "{} challenges deleted at {} in one request ({} were not there)",
                        d.deleted, site.base, d.absent
                    ));
                    result.deleted += d.deleted;
                    result.absent += d.absent;
                    return Ok(());
                }
                Batch::Unsupported => self.reporter.step(format_args!(
                    "{} has no batch endpoint (an older server): deleting one by one over the \
                     same client",
                    site.base
                )),
            }
        }
        let mut first_error = None;
        for &i in chunk {
            result.requests += 1;
            match site.api.delete(challenges[i].token()) {
                Ok(DeleteOutcome::Deleted) => result.deleted += 1,
                Ok(DeleteOutcome::AlreadyGone) => result.absent += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
