//! Building the blocking HTTP clients the API client and the self-check use. (Their bodies are
//! read with the one capped reader, [`crate::files::read_at_most`].)
//!
//! No client follows redirects on its own: the API client reports them, the self-check follows
//! them by the CA's rules ([`crate::ca_policy`]), each to the addresses it vetted: its clients
//! resolve a pinned host from the pin alone ([`build_pinned_client`]). reqwest with rustls loads the system root store
//! when a client is built (rustls-platform-verifier reads every file under /etc/ssl/certs). A
//! client for a plain `http://` URL never needs it, so it gets an empty root store; `cargo run
//! --release --example client_build_cost` prints what that saves.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, chain_text};
use crate::resolve::{OverrideResolver, PinnedResolver, Pins, ResolveRule};

/// Sent on every request, so site operators can tell the hooks' traffic apart.
pub const USER_AGENT: &str = concat!("certbot-django-hooks/", env!("CARGO_PKG_VERSION"));

/// How a client treats TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Verify against the system roots plus `--ca-bundle`: API requests over https.
    Verified,
    /// The URL is plain http: no root store is loaded at all.
    PlainHttp,
    /// Accept any certificate: the self-check, which, like Let's Encrypt, does not validate the
    /// certificate of an https URL it was redirected to, and never sends credentials.
    AcceptAny,
}

/// Builds a blocking client that never follows redirects, with `--resolve` overrides and a
/// connect timeout. Request timeouts are set per request from the deadline.
pub fn build_client(
    tls: TlsMode,
    resolve: &[ResolveRule],
    ca_bundle: Option<&Path>,
    connect_timeout: Duration,
) -> Result<reqwest::blocking::Client, Error> {
    let builder = base_builder(connect_timeout)
        .pool_max_idle_per_host(1)
        .dns_resolver(Arc::new(OverrideResolver {
            rules: resolve.to_vec(),
        }));
    finish(builder, tls, ca_bundle)
}

/// The self-check's client: it connects a pinned host to its pin only ([`PinnedResolver`]), and
/// keeps no idle connection, so that every request connects to what was vetted for it then, not
/// to an address an earlier attempt vetted. Other hosts (a proxy's) resolve as `resolve` says.
pub fn build_pinned_client(
    tls: TlsMode,
    pins: &Pins,
    resolve: &[ResolveRule],
    connect_timeout: Duration,
) -> Result<reqwest::blocking::Client, Error> {
    let builder = base_builder(connect_timeout)
        .pool_max_idle_per_host(0)
        .dns_resolver(Arc::new(PinnedResolver {
            pins: pins.clone(),
            fallback: OverrideResolver {
                rules: resolve.to_vec(),
            },
        }));
    finish(builder, tls, None)
}

fn base_builder(connect_timeout: Duration) -> reqwest::blocking::ClientBuilder {
    reqwest::blocking::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .connect_timeout(connect_timeout)
        .timeout(None)
}

fn finish(
    builder: reqwest::blocking::ClientBuilder,
    tls: TlsMode,
    ca_bundle: Option<&Path>,
) -> Result<reqwest::blocking::Client, Error> {
    let builder = match tls {
        TlsMode::Verified => match ca_bundle {
            Some(path) => builder.tls_certs_merge(read_ca_bundle(path)?),
            None => builder,
        },
        TlsMode::PlainHttp => builder.tls_certs_only(std::iter::empty()),
        TlsMode::AcceptAny => builder.tls_danger_accept_invalid_certs(true),
    };
    builder.build().map_err(|e| Error::Client(chain_text(&e)))
}

fn read_ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>, Error> {
    let origin = format!("--ca-bundle {}", path.display());
    let (_, bytes) = crate::files::read_regular(path, crate::files::MAX_CA_BUNDLE)
        .map_err(|p| Error::config(&origin, p.describe("a PEM certificate bundle")))?;
    let certs = reqwest::Certificate::from_pem_bundle(&bytes).map_err(|e| {
        Error::config(
            &origin,
            format!("it is not a PEM certificate bundle: {}", chain_text(&e)),
        )
    })?;
    if certs.is_empty() {
        return Err(Error::config(
            &origin,
            "it holds no '-----BEGIN CERTIFICATE-----' block: pass the PEM file of the CA that signed the site's certificate",
        ));
    }
    Ok(certs)
}
