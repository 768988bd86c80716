//! The one error type, with a variant per step that can fail.
//!
//! An operator reads these in certbot's log at 3 a.m., so every message says what failed, with
//! which value (URL, key path, HTTP status, config key) and the likely fix. None of them may
//! contain a JWT, an `Authorization` header or key material: only the API client sees the token,
//! and [`crate::jwt::Jwt`] refuses to format itself.

use std::path::PathBuf;

use crate::challenge::ChallengeError;
use crate::urls::Endpoint;

/// Everything that can make a hook fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `CERTBOT_*` variables are missing or invalid; nothing was sent.
    #[error("invalid certbot environment, nothing was sent: {0}")]
    Environment(ChallengeError),

    /// An option, environment variable or config file key has a bad value.
    #[error("{origin}: {problem}")]
    Config {
        /// Where the value came from: `--timeout`, or `config file F, key 'timeout'`.
        origin: String,
        /// What is wrong and how to fix it.
        problem: String,
    },

    /// The config file cannot be read or is not valid TOML for our keys.
    #[error("config file {path}: {problem}", path = path.display())]
    ConfigFile {
        /// The file named by `--config` or `CERTBOT_DJANGO_CONFIG`.
        path: PathBuf,
        /// What is wrong, with the TOML parser's line and column when it has them.
        problem: String,
    },

    /// The private key cannot be used.
    #[error("private key {path}: {problem}", path = path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        problem: String,
    },

    /// The private key file was read but its contents cannot be used; the [`KeyError`] (its
    /// source) says why.
    #[error("private key {path} cannot be used", path = path.display())]
    KeyContents {
        /// The key file.
        path: PathBuf,
        /// What is wrong with the contents.
        #[source]
        source: KeyError,
    },

    /// The private key file is open to group or others.
    #[error(
        "private key {path} is accessible by group or others (mode {mode:04o}), so it is refused, \
         as OpenSSH refuses such keys: run 'chmod 600 {path}'",
        path = path.display()
    )]
    KeyPermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// `keygen` could not create the key file.
    #[error("cannot create key file {path}: {problem}", path = path.display())]
    KeyWrite {
        /// The requested key file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },

    /// Key generation failed or was asked for an unsupported size.
    #[error("key generation: {0}")]
    KeyGeneration(String),

    /// Building or signing the JWT failed.
    #[error("cannot sign the JWT: {0}")]
    Signing(String),

    /// The system's random number generator failed (a probe token, a JWT nonce).
    #[error(
        "the system's random number generator failed (for {purpose}): check that /dev/urandom \
         is readable and getrandom(2) is allowed (a seccomp filter?)"
    )]
    Random {
        /// What the bytes were for.
        purpose: &'static str,
    },

    /// reqwest cannot build the HTTP client (its TLS backend failed to initialise). An
    /// unreadable or invalid `--ca-bundle` is a [`Error::Config`] error, not this.
    #[error("HTTP client setup: {0}")]
    Client(String),

    /// A request to the site's challenge API failed for good.
    #[error("{method} {url} failed: {problem}", method = .endpoint.method())]
    Api {
        /// Which of the site's endpoints.
        endpoint: Endpoint,
        /// The request URL.
        url: String,
        /// The last HTTP status, if the site answered at all.
        status: Option<u16>,
        /// What happened and the likely fix.
        problem: String,
    },

    /// The challenge was stored but the public URL did not serve it in time.
    #[error(
        "self-check failed: {url} did not serve the challenge within {waited_secs:.1} s \
         ({attempts} attempts); it last answered: {last}. {hint}"
    )]
    SelfCheck {
        /// The URL the CA will fetch.
        url: String,
        /// Seconds spent polling.
        waited_secs: f64,
        /// Number of GETs made.
        attempts: u32,
        /// Description of the last answer.
        last: String,
        /// What to check.
        hint: String,
    },

    /// `auth-hook check` found a problem; its lines on stdout say which and how to fix it.
    #[error("check failed at the {step} step: its line on standard output says how to fix it")]
    Check {
        /// The first step that failed: `key`, `server`, `push`, `self-check` or `delete`.
        step: &'static str,
    },

    /// The deploy hook's environment or certificate cannot be used; nothing was sent. The text
    /// names the variable or file and the fix.
    #[error("{0}")]
    Deploy(String),

    /// Writing the result line or a public key to stdout failed.
    #[error("cannot write to standard output")]
    Output(#[source] std::io::Error),
}

// Not `#[from]`: that would also make the challenge error the `source`, and `main` would print
// the same sentence twice.
impl From<ChallengeError> for Error {
    fn from(err: ChallengeError) -> Self {
        Error::Environment(err)
    }
}

/// An error and its causes, outermost first.
pub fn causes<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err), |e| e.source())
}

/// An error and its causes as one line, joined by ": " ([`causes`]).
pub(crate) fn chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    causes(err)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// How a hook prints a failure: `PROGRAM: error: ERR`, then one `  caused by: ...` line per
/// source.
pub fn write_chain(
    out: &mut dyn std::io::Write,
    program: &str,
    err: &(dyn std::error::Error + 'static),
) {
    // stderr going away must not turn a failure into a panic.
    for (i, cause) in causes(err).enumerate() {
        let _ = if i == 0 {
            writeln!(out, "{program}: error: {cause}")
        } else {
            writeln!(out, "  caused by: {cause}")
        };
    }
}

/// What is wrong with a key file's contents. The messages name the fix; they never quote the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not PEM at all.
    #[error("it is not a PEM private key (expected a '-----BEGIN PRIVATE KEY-----' block)")]
    NotPem,
    /// Only public keys or certificates in the file.
    #[error("it holds a public key or certificate, not a private key: pass the private key file")]
    PublicKeyOnly,
    /// Passphrase protected. The hooks run unattended and never prompt.
    #[error(
        "it is encrypted with a passphrase, and the hooks run unattended: decrypt it with \
         'openssl pkey -in KEY -out KEY.new' (then chmod 600), or create a new key with \
         'auth-hook keygen'"
    )]
    Encrypted,
    /// An EC (ECDSA) key: asymmetric-jwt-auth has no EC support.
    #[error(
        "it is an EC key, which asymmetric-jwt-auth does not accept: use an Ed25519 or RSA key \
         ('auth-hook keygen')"
    )]
    Ec,
    /// An OpenSSH-format key.
    #[error(
        "it is in OpenSSH format: convert it with 'ssh-keygen -p -m PKCS8 -f KEY' (this rewrites \
         the file), or create a key with 'auth-hook keygen'"
    )]
    OpenSsh,
    /// A PEM block we do not read.
    #[error("it holds a '{0}' PEM block, which is not an RSA or Ed25519 private key")]
    UnsupportedLabel(String),
    /// A PKCS#8 key of another algorithm.
    #[error("it is a PKCS#8 key of an algorithm other than RSA or Ed25519")]
    UnsupportedAlgorithm,
    /// The RSA key was rejected by AWS-LC (malformed, or outside 2048 to 8192 bits).
    #[error("the RSA key is malformed or not between 2048 and 8192 bits ({0})")]
    BadRsa(String),
    /// The DER inside the PEM is malformed.
    #[error("the PEM block does not contain a well-formed key")]
    Malformed,
}

impl Error {
    pub(crate) fn config(origin: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Config {
            origin: origin.into(),
            problem: problem.into(),
        }
    }

    /// Whether a failed push (of one challenge or of a batch) may have stored all the same: the
    /// site never answered, or answered with a server error after the request may have reached
    /// it. Every refusal (4xx, a redirect) stored nothing, and neither did any other step.
    pub fn push_may_have_stored(&self) -> bool {
        match self {
            Error::Api {
                endpoint, status, ..
            } if endpoint.stores() => status.is_none_or(|s| s >= 500),
            _ => false,
        }
    }

    /// The HTTP status of the last answer, for API failures.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => *status,
            _ => None,
        }
    }
}
