//! The client for the site's challenge API: store a challenge, delete it, store or delete many
//! at once, report a certificate.
//!
//! The protocol is the older certbot-django plugin's, which the server app keeps:
//! form POST `challenge`, `response`, `domain` to `{server}/.well-known/challenges/`, and DELETE
//! `{server}/.well-known/challenges/<token>/`, each with `Authorization: JWT <token>`. Our app
//! adds batches (JSON POSTs to `{server}/.well-known/challenge-batch/` and `.../delete/`); a site
//! without them answers their URLs 404 or 405 with no refusal code, which is [`Batch::Unsupported`]
//! and the caller goes one by one.
//!
//! Decisions, and the facts behind them:
//! - Redirects are never followed. A followed 301/302 turns the POST into a GET, which the site
//!   may answer 200: a false success. The 3xx is reported with its `Location` instead.
//! - Connection failures, timeouts, 408, 429 and 5xx are retried with exponential backoff and
//!   jitter until the deadline, honouring `Retry-After`. Retrying a POST that may already have
//!   been stored is safe: the server replaces the challenge with the same token.
//! - Each attempt signs a new JWT: the server rejects a reused nonce.
//! - Each JWT is bound to its request (method, URL, SHA-256 of the body: [`RequestBinding`]), so
//!   the form body is encoded to bytes first, hashed into the token, and exactly those bytes
//!   are sent.
//! - A refusal's advice follows the app's `Acme-Challenge-Refusal` code ([`RefusalCode`]), never
//!   its words, and a site's own reason gets no list of generic causes after it. Only an answer
//!   without a code (the original certbot-django server, an older app, a proxy) is read by its
//!   status and, for a 401 and a report's 400, by its words.
//! - Error bodies are read up to 4 KiB and shown as one stripped line, with the request's own
//!   JWT and anything shaped like a JWT removed ([`one_line_hiding`]): a server or proxy that
//!   echoes the `Authorization` header must not put a token into certbot's log.

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{
    AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode, Url};

use serde::Serialize;

use crate::advice;
use crate::challenge::{Challenge, Identifier};
use crate::client::{TlsMode, build_client};
use crate::config::Settings;
use crate::deadline::Deadline;
use crate::error::Error;
use crate::files::read_at_most;
use crate::http_date::{clock_skew, retry_after};
use crate::jwt::{RequestBinding, fresh_token};
use crate::key::Signer;
use crate::output::Reporter;
use crate::refusal::{self, RefusalCode};
use crate::reserved::is_loopback;
use crate::text::{body_excerpt_hiding, one_line_hiding};
use crate::transport_error::{Failure, classify};
use crate::urls::{self, Endpoint};

/// The content types of the bodies the API takes: the challenge form, the certificate report.
const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

/// Most of an error body that is read.
pub const MAX_ERROR_BODY: u64 = 4096;
/// Most challenges one batch carries: the site refuses more (`batch-too-large`), as Let's
/// Encrypt allows at most 100 names per certificate.
pub const MAX_BATCH: usize = 100;
/// Most of an error body that is shown.
const MAX_SHOWN_BODY: usize = 500;
/// Longest single attempt, so a hang still leaves time for another try within the default 60 s.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest TCP (and name lookup) wait.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// First backoff delay; doubled per retry up to [`MAX_BACKOFF`], jittered by up to half.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// A shortened backoff leaves at least half of this for a last attempt.
const LAST_ATTEMPT_MIN: Duration = Duration::from_secs(1);
/// Below this much remaining time another attempt is pointless.
const MIN_ATTEMPT: Duration = Duration::from_millis(100);
/// The site tolerates this much clock difference (asymmetric_jwt_auth's default is 20 s); a
/// skew above this threshold is worth printing.
const SKEW_WORTH_REPORTING: i64 = 10;

/// What a DELETE found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The site deleted the challenge (200 or 204).
    Deleted,
    /// The site had no such challenge (404): someone already removed it.
    AlreadyGone,
}

/// What a batch call got: the site's answer, or a site without batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch<T> {
    /// The site took the batch.
    Done(T),
    /// The batch URL answered 404 or 405 without an `Acme-Challenge-Refusal` code: the site has
    /// no batches (the original certbot-django server, or an older app), so nothing was done
    /// and the caller goes one by one, over the same client.
    Unsupported,
}

/// What a batch delete found: how many it deleted, and how many were not there for this
/// caller (already gone, or another user's, as a single DELETE's 404).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchDeleted {
    /// Challenges deleted.
    pub deleted: usize,
    /// Tokens with nothing to delete.
    pub absent: usize,
}

/// A client for one site, one signer and one run's deadline.
pub struct ApiClient<'a> {
    client: reqwest::blocking::Client,
    base: Url,
    signer: &'a Signer,
    username: String,
    deadline: Deadline,
    reporter: &'a Reporter,
}

impl<'a> ApiClient<'a> {
    /// Builds the client for the site serving `identifier`. Warns (once, unless `-q`) when the
    /// JWT would cross the network in clear.
    pub fn new(
        settings: &Settings,
        identifier: &Identifier,
        signer: &'a Signer,
        deadline: Deadline,
        reporter: &'a Reporter,
    ) -> Result<Self, Error> {
        let base = settings.server_url(identifier)?;
        let tls = if base.scheme() == "https" {
            TlsMode::Verified
        } else {
            if !is_loopback(&base, &settings.resolve) {
                reporter.warn(format_args!(
                    "{base} is plain http to a host that is not this machine: the signed request \
                     crosses the network in clear (use https:// in --server)"
                ));
            }
            TlsMode::PlainHttp
        };
        let started = Instant::now();
        let client = build_client(
            tls,
            &settings.resolve,
            settings.ca_bundle.as_deref(),
            deadline.cap(CONNECT_TIMEOUT).max(MIN_ATTEMPT),
        )?;
        reporter.step(format_args!(
            "built the {} client in {} ms",
            if tls == TlsMode::Verified {
                "https"
            } else {
                "http"
            },
            started.elapsed().as_millis()
        ));
        Ok(ApiClient {
            client,
            base,
            signer,
            username: settings.username.clone(),
            deadline,
            reporter,
        })
    }

    /// The same client (and connection pool) with another deadline.
    pub fn with_deadline(&self, deadline: Deadline) -> ApiClient<'a> {
        ApiClient {
            client: self.client.clone(),
            base: self.base.clone(),
            signer: self.signer,
            username: self.username.clone(),
            deadline,
            reporter: self.reporter,
        }
    }

    /// `{server}/.well-known/challenges/`
    pub fn challenges_url(&self) -> Url {
        urls::challenges(&self.base)
    }

    /// `{server}/.well-known/challenges/<token>/`
    pub fn challenge_url(&self, token: &str) -> Url {
        urls::challenge(&self.base, token)
    }

    /// The site's base URL, for messages.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Stores the challenge. Returns the success status (200 or 201).
    pub fn push(&self, challenge: &Challenge) -> Result<u16, Error> {
        let domain = challenge.identifier().to_string();
        let form = [
            ("challenge", challenge.token()),
            ("response", challenge.validation()),
            ("domain", domain.as_str()),
        ];
        let url = self.challenges_url();
        let body = form_body(&form);
        let answer = self.send(
            Endpoint::PushChallenge,
            &url,
            Some((FORM, &body)),
            |s, _| matches!(s, StatusCode::OK | StatusCode::CREATED).then_some(()),
        )?;
        Ok(answer.status.as_u16())
    }

    /// Stores every challenge in one request, all or nothing: the site checks each as a single
    /// push and stores none if it refuses one. Returns the success status (200 or 201), or
    /// [`Batch::Unsupported`] from a site without batches. At most [`MAX_BATCH`] challenges and
    /// at least one (the site refuses an empty batch).
    pub fn push_batch(&self, challenges: &[Challenge]) -> Result<Batch<u16>, Error> {
        let url = urls::challenge_batch(&self.base);
        let body = push_batch_body(challenges);
        let answer = self.send(Endpoint::PushBatch, &url, Some((JSON, &body)), |s, h| {
            if matches!(s, StatusCode::OK | StatusCode::CREATED) {
                Some(Batch::Done(()))
            } else {
                batch_unsupported(s, h).then_some(Batch::Unsupported)
            }
        })?;
        Ok(match answer.verdict {
            Batch::Done(()) => Batch::Done(answer.status.as_u16()),
            Batch::Unsupported => self.unsupported(&url, answer.status),
        })
    }

    /// Deletes the challenges with these tokens in one request. Returns how many the site
    /// deleted and how many were not there, or [`Batch::Unsupported`] from a site without
    /// batches. At most [`MAX_BATCH`] tokens and at least one.
    pub fn delete_batch(&self, tokens: &[&str]) -> Result<Batch<BatchDeleted>, Error> {
        let url = urls::challenge_batch_delete(&self.base);
        let body = delete_batch_body(tokens);
        let answer = self.send(Endpoint::DeleteBatch, &url, Some((JSON, &body)), |s, h| {
            if s == StatusCode::OK {
                Some(Batch::Done(()))
            } else {
                batch_unsupported(s, h).then_some(Batch::Unsupported)
            }
        })?;
        if answer.verdict == Batch::Unsupported {
            return Ok(self.unsupported(&url, answer.status));
        }
        let counted = parse_batch_deleted(&answer.body)
            .filter(|c| c.deleted + c.absent == tokens.len())
            .ok_or_else(|| Error::Api {
                endpoint: Endpoint::DeleteBatch,
                url: url.to_string(),
                status: Some(answer.status.as_u16()),
                problem: format!(
                    "the site answered {} {} instead of {{\"deleted\": N, \"absent\": M}} \
                     counting the {} tokens sent: it may not be django-acme-challenge's batch \
                     delete. Check --server",
                    answer.status,
                    crate::text::body_excerpt(&answer.body, &HeaderMap::new(), MAX_SHOWN_BODY),
                    tokens.len()
                ),
            })?;
        Ok(Batch::Done(counted))
    }

    /// A batch URL that the site does not have, said with `-v`.
    fn unsupported<T>(&self, url: &Url, status: StatusCode) -> Batch<T> {
        self.reporter.step(format_args!(
            "{url} answered {status} without a refusal code: the site has no batches"
        ));
        Batch::Unsupported
    }

    /// Reports a certificate: `body` is the deploy hook's JSON with the chain
    /// ([`crate::certificate_report::Chain::report_body`]). Returns the success status (200 or 201).
    pub fn report_certificate(&self, body: &[u8]) -> Result<u16, Error> {
        let url = urls::certificates(&self.base);
        let answer = self.send(
            Endpoint::ReportCertificate,
            &url,
            Some((JSON, body)),
            |s, _| matches!(s, StatusCode::OK | StatusCode::CREATED).then_some(()),
        )?;
        Ok(answer.status.as_u16())
    }

    /// Checks, without credentials, that the challenge API answers at [`Self::challenges_url`]:
    /// the app refuses a POST without a JWT with 401 and `WWW-Authenticate: JWT` before it reads
    /// the form, so nothing is stored. One attempt only: `auth-hook check` should say at once that
    /// the site cannot be reached rather than retry until the deadline. Returns the answer's time.
    pub fn check_mounted(&self) -> Result<Duration, Error> {
        let url = self.challenges_url();
        // The push's URL and method, without a JWT.
        let fail = |status: Option<u16>, problem: String| Error::Api {
            endpoint: Endpoint::PushChallenge,
            url: url.to_string(),
            status,
            problem,
        };
        let started = Instant::now();
        let result = self
            .client
            .post(url.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("")
            .timeout(self.deadline.cap(ATTEMPT_TIMEOUT).max(MIN_ATTEMPT))
            .send();
        let took = started.elapsed();
        let mut response = match result {
            Ok(response) => response,
            Err(err) => {
                let failure = classify(&err);
                self.reporter.step(format_args!(
                    "POST {url} without a JWT failed after {} ms: {failure}",
                    took.as_millis()
                ));
                return Err(fail(None, describe_unreachable(&failure, &url, took)));
            }
        };
        let status = response.status();
        self.reporter.step(format_args!(
            "POST {url} without a JWT answered {status} in {} ms",
            took.as_millis()
        ));
        let schemes: Vec<String> = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split([' ', ',']).find(|s| !s.is_empty()))
            .map(|s| one_line_hiding(s, 40, &[]))
            .collect();
        if status == StatusCode::UNAUTHORIZED
            && schemes.iter().any(|s| s.eq_ignore_ascii_case("JWT"))
        {
            return Ok(took);
        }
        let (_, said) =
            read_refusal(&mut response, &[]).map_err(|p| fail(Some(status.as_u16()), p))?;
        let problem = match status {
            StatusCode::UNAUTHORIZED => format!(
                "the site answered 401 Unauthorized{said} asking for {} authentication, not for a \
                 JWT: something in front of the Django app (a proxy with a password?) must let \
                 {url} through",
                if schemes.is_empty() {
                    "no".to_string()
                } else {
                    schemes.join(", ")
                }
            ),
            StatusCode::NOT_FOUND => format!(
                "the site answered 404 Not Found{said}: {}",
                advice::api_not_mounted(&url)
            ),
            s if s.is_server_error() => {
                format!("the site answered {s}{said}: see the site's error log")
            }
            s if s.is_success() => format!(
                "the site answered {s}{said} to a POST without a JWT, which the challenge API \
                 refuses with 401: something else answers at this URL. Check --server"
            ),
            s => format!(
                "the site answered {s}{said}, not the challenge API's 401 with \
                 'WWW-Authenticate: JWT': perhaps {}",
                advice::api_not_mounted(&url)
            ),
        };
        Err(fail(Some(status.as_u16()), problem))
    }

    /// Deletes the challenge with this token. 200, 204 and 404 all mean it is gone.
    pub fn delete(&self, token: &str) -> Result<DeleteOutcome, Error> {
        let url = self.challenge_url(token);
        let answer = self.send(Endpoint::DeleteChallenge, &url, None, |s, _| {
            matches!(
                s,
                StatusCode::OK | StatusCode::NO_CONTENT | StatusCode::NOT_FOUND
            )
            .then_some(())
        })?;
        Ok(if answer.status == StatusCode::NOT_FOUND {
            DeleteOutcome::AlreadyGone
        } else {
            DeleteOutcome::Deleted
        })
    }

    /// Sends the request, signed with a fresh JWT bound to it on every attempt, retrying what
    /// may pass later until the deadline. `accept` reads an answer's status and headers: `Some`
    /// ends the call with that verdict (and the body, read up to [`MAX_ERROR_BODY`], so the
    /// connection can serve the next request); `None` makes it a refusal, described from the
    /// status, the refusal code and the body.
    fn send<T>(
        &self,
        endpoint: Endpoint,
        url: &Url,
        body: Option<(&'static str, &[u8])>,
        accept: impl Fn(StatusCode, &HeaderMap) -> Option<T>,
    ) -> Result<Answer<T>, Error> {
        let method_name = endpoint.method();
        let method = match endpoint {
            Endpoint::DeleteChallenge => Method::DELETE,
            Endpoint::PushChallenge
            | Endpoint::ReportCertificate
            | Endpoint::PushBatch
            | Endpoint::DeleteBatch => Method::POST,
        };
        let fail = |status: Option<u16>, problem: String| Error::Api {
            endpoint,
            url: url.to_string(),
            status,
            problem,
        };
        // The same request every attempt; only the time and nonce of its token change.
        let (content_type, body) = body.unwrap_or(("", &[]));
        let binding = RequestBinding::new(method_name, url, body);
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0u32;
        let mut last: (String, Option<u16>) = ("no attempt fitted in the deadline".into(), None);
        loop {
            if self.deadline.remaining() < MIN_ATTEMPT {
                break;
            }
            attempts += 1;
            let jwt = fresh_token(self.signer, &self.username, &binding)?;
            let mut auth = HeaderValue::from_str(&format!("JWT {}", jwt.expose()))
                .map_err(|_| Error::Signing("the JWT is not a valid header value".into()))?;
            auth.set_sensitive(true);
            let mut request = self
                .client
                .request(method.clone(), url.clone())
                .header(AUTHORIZATION, auth)
                .timeout(self.deadline.cap(ATTEMPT_TIMEOUT));
            if !body.is_empty() {
                request = request
                    .header(CONTENT_TYPE, content_type)
                    .body(body.to_vec());
            }
            let started = Instant::now();
            let result = request.send();
            let took = started.elapsed().as_millis();
            let mut delay = jittered(backoff);
            let mut honoured_retry_after = false;
            match result {
                Ok(mut response) => {
                    let status = response.status();
                    self.reporter.step(format_args!(
                        "{method_name} {url} answered {status} in {took} ms (attempt {attempts})"
                    ));
                    if let Some(verdict) = accept(status, response.headers()) {
                        let (body, _) = read_at_most(&mut response, MAX_ERROR_BODY);
                        return Ok(Answer {
                            status,
                            verdict,
                            body,
                        });
                    }
                    let (headers, said) = read_refusal(&mut response, &[jwt.expose()])
                        .map_err(|p| fail(Some(status.as_u16()), p))?;
                    let problem = self.describe_status(endpoint, status, &said, &headers);
                    let retryable = status == StatusCode::TOO_MANY_REQUESTS
                        || status == StatusCode::REQUEST_TIMEOUT
                        || status.is_server_error();
                    if !retryable {
                        return Err(fail(Some(status.as_u16()), problem));
                    }
                    if let Some(wait) = retry_after(&headers, SystemTime::now()) {
                        if wait > self.deadline.remaining() {
                            return Err(fail(
                                Some(status.as_u16()),
                                format!(
                                    "{problem}; it asked to retry after {} s (Retry-After), beyond \
                                     the --timeout deadline of {} s",
                                    wait.as_secs(),
                                    self.deadline.total().as_secs()
                                ),
                            ));
                        }
                        delay = wait;
                        honoured_retry_after = true;
                    }
                    last = (problem, Some(status.as_u16()));
                }
                Err(err) => {
                    let failure = classify(&err);
                    self.reporter.step(format_args!(
                        "{method_name} {url} failed after {took} ms (attempt {attempts}): {failure}"
                    ));
                    if !failure.is_retryable() {
                        return Err(fail(None, failure.to_string()));
                    }
                    // The same cause and fix as `auth-hook check`'s server step names.
                    last = (describe_unreachable(&failure, url, started.elapsed()), None);
                }
            }
            let remaining = self.deadline.remaining();
            if delay + MIN_ATTEMPT > remaining {
                // A backoff delay may shrink to leave one last attempt before the deadline; a
                // wait the site asked for (Retry-After) was already checked above.
                if honoured_retry_after || remaining < LAST_ATTEMPT_MIN {
                    break;
                }
                delay = remaining - LAST_ATTEMPT_MIN / 2;
            }
            std::thread::sleep(delay);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        Err(fail(
            last.1,
            format!(
                "{}; gave up after {attempts} attempt{} in {:.1} s (--timeout {} s)",
                last.0,
                if attempts == 1 { "" } else { "s" },
                self.deadline.elapsed().as_secs_f64(),
                self.deadline.total().as_secs()
            ),
        ))
    }

    /// What a refusal means and how to fix it. `said` is what [`read_refusal`] returns: the
    /// body, with a leading space, or nothing. The app's `Acme-Challenge-Refusal` code decides
    /// the advice ([`Self::describe_coded`]); without one (the original certbot-django server,
    /// an older app, a proxy's own answer) the status and the words do ([`Self::describe_uncoded`]).
    fn describe_status(
        &self,
        endpoint: Endpoint,
        status: StatusCode,
        said: &str,
        headers: &HeaderMap,
    ) -> String {
        let skew = clock_skew(headers, SystemTime::now())
            .filter(|skew| skew.abs() > SKEW_WORTH_REPORTING)
            .map(|skew| {
                format!(
                    "this machine's clock is off: it is {} s {} the site's (from the site's Date \
                     header) and the site accepts about 20 s: fix the clock (NTP)",
                    skew.abs(),
                    if skew > 0 { "ahead of" } else { "behind" }
                )
            });
        let clock = Clock {
            cause: match &skew {
                Some(skew) => format!(", or {skew}"),
                None => ", or this machine's clock is off by more than 20 s".to_string(),
            },
            // A skew read from the site's Date header is a fact worth adding even to the site's
            // reason.
            measured: skew.map_or(String::new(), |skew| format!("; also, {skew}")),
        };
        match RefusalCode::from_headers(headers) {
            Some(code) => self.describe_coded(&code, endpoint, status, said, &clock),
            None => self.describe_uncoded(endpoint, status, said, headers, &clock),
        }
    }

    /// A refusal with the app's code: the site's own line, then the fix for that code. The
    /// app's line names its reason, so no list of generic causes follows it.
    fn describe_coded(
        &self,
        code: &RefusalCode,
        endpoint: Endpoint,
        status: StatusCode,
        said: &str,
        clock: &Clock,
    ) -> String {
        let user = &self.username;
        let answered = format!("the site answered {status}{said} (refusal code {code})");
        let fix = match code {
            RefusalCode::JwtRefused => {
                return format!("{answered}: {}", advice::jwt_refused(user, &clock.cause));
            }
            RefusalCode::BindingMissing
            | RefusalCode::BindingMalformed
            | RefusalCode::BindingMismatch => advice::request_changed_on_the_way().to_string(),
            RefusalCode::PermissionMissing => format!(
                "on the site run '{}', which grants user '{user}' every permission the hooks need",
                advice::grant_command(user)
            ),
            RefusalCode::NameNotAllowed => advice::add_allowed_domain().to_string(),
            RefusalCode::ScopeOutsideKey => format!(
                "'{}' on the site shows the scope of each of the user's keys",
                advice::list_keys_command(user)
            ),
            RefusalCode::NotOwner => "another user's challenge holds this token; certbot makes a \
                                      new token for each attempt, so run certbot again"
                .to_string(),
            RefusalCode::BodyMalformed | RefusalCode::FieldInvalid => {
                advice::versions_disagree().to_string()
            }
            RefusalCode::MethodNotAllowed => format!(
                "the site takes another method than {} at this URL: check --server, and that \
                 nothing in between rewrites the request",
                endpoint.method()
            ),
            RefusalCode::BatchTooLarge => format!(
                "a certificate has at most {MAX_BATCH} names, so a batch never needs more: \
                 push one at a time with --no-batch"
            ),
            RefusalCode::ChainUntrusted => advice::trust_private_ca().to_string(),
            // An unknown code is read by its status (server/README.md says so), without the words.
            RefusalCode::Unknown(_) if status == StatusCode::UNAUTHORIZED => {
                return format!("{answered}: {}", advice::jwt_refused(user, &clock.cause));
            }
            RefusalCode::Unknown(_) if status.is_server_error() => {
                "see the site's error log".to_string()
            }
            // The site's line says all there is: these hooks never send what it refuses.
            RefusalCode::BodyTooLarge
            | RefusalCode::LegacyNotAllowed
            | RefusalCode::DomainRequired
            | RefusalCode::NoSuchChallenge
            | RefusalCode::ReportLegacyForm
            | RefusalCode::ChainPrivateKey
            | RefusalCode::ChainInvalid
            | RefusalCode::CertificateUnrecordable
            | RefusalCode::CertificateNotYetValid
            | RefusalCode::TrustStoreUnreadable
            | RefusalCode::Unknown(_) => return format!("{answered}{}", clock.measured),
        };
        format!("{answered}: {fix}{}", clock.measured)
    }

    /// A refusal without a code, read as before the codes: by the status, and for a 401 and a
    /// report's 400 by the site's words.
    fn describe_uncoded(
        &self,
        endpoint: Endpoint,
        status: StatusCode,
        said: &str,
        headers: &HeaderMap,
        clock: &Clock,
    ) -> String {
        let user = &self.username;
        if endpoint == Endpoint::ReportCertificate
            && let Some(problem) = describe_report_status(user, status, said, headers)
        {
            return problem;
        }
        let Clock { cause, measured } = clock;
        match status {
            StatusCode::UNAUTHORIZED if refuses_binding(said) => format!(
                "the site answered 401 Unauthorized{said}: {}",
                advice::request_changed_on_the_way()
            ),
            StatusCode::UNAUTHORIZED => format!(
                "the site answered 401 Unauthorized{said}: {}",
                advice::jwt_refused(user, cause)
            ),
            // The app's refusals are one text/plain line that names the cause and its fix: then
            // that is the advice. Generic causes only when the site gave no reason of its own.
            StatusCode::FORBIDDEN if gave_reason(said, headers) => {
                format!("the site answered 403 Forbidden{said}{measured}")
            }
            StatusCode::FORBIDDEN => format!(
                "the site answered 403 Forbidden{said}: {}{cause}",
                advice::forbidden_causes(user, endpoint.permission())
            ),
            StatusCode::CONFLICT => format!(
                "the site answered 409 Conflict{said}: another user's key stored a challenge \
                 with this token, and only its owner may replace it. Run the hooks with that \
                 user's --username and key, or wait until ACME_CHALLENGE_TTL expires it"
            ),
            StatusCode::NOT_FOUND => format!(
                "the site answered 404 Not Found{said}: {}",
                advice::api_not_mounted(&self.challenges_url())
            ),
            StatusCode::BAD_REQUEST => {
                format!("the site refused the request: 400 Bad Request{said}")
            }
            s if s.is_server_error() => {
                format!("the site answered {s}{said}: see the site's error log")
            }
            s => format!("the site answered {s}{said}"),
        }
    }
}

/// What a refusal may say about this machine's clock: a cause to list among others, and the
/// skew measured from the site's `Date` header (empty when none is worth saying) to add to the
/// site's own reason.
struct Clock {
    cause: String,
    measured: String,
}

/// An answer [`ApiClient::send`] accepted: its status, the caller's verdict on it, and the start
/// of its body.
struct Answer<T> {
    status: StatusCode,
    verdict: T,
    body: Vec<u8>,
}

/// Whether a batch URL's answer says the site has no batches: 404 or 405 without a refusal
/// code. The app answers its own refusals with a code, so a 404 with one (an unknown user's
/// batch, say) is a refusal like any other, not a missing endpoint.
fn batch_unsupported(status: StatusCode, headers: &HeaderMap) -> bool {
    matches!(
        status,
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
    ) && !headers.contains_key(refusal::HEADER)
}

/// One challenge as a batch carries it: the same three fields a single push sends.
#[derive(Serialize)]
struct BatchItem<'a> {
    challenge: &'a str,
    response: &'a str,
    domain: String,
}

/// The batch push's body: `{"challenges": [{"challenge", "response", "domain"}, ...]}`.
fn push_batch_body(challenges: &[Challenge]) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        challenges: Vec<BatchItem<'a>>,
    }
    let body = Body {
        challenges: challenges
            .iter()
            .map(|c| BatchItem {
                challenge: c.token(),
                response: c.validation(),
                domain: c.identifier().to_string(),
            })
            .collect(),
    };
    serde_json::to_vec(&body).expect("strings and lists always serialize to JSON")
}

/// The batch delete's body: `{"tokens": [...]}`.
fn delete_batch_body(tokens: &[&str]) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a, 'b> {
        tokens: &'a [&'b str],
    }
    serde_json::to_vec(&Body { tokens }).expect("strings and lists always serialize to JSON")
}

/// The batch delete's answer, `{"deleted": N, "absent": M}`; `None` if it is not that.
fn parse_batch_deleted(body: &[u8]) -> Option<BatchDeleted> {
    #[derive(serde::Deserialize)]
    struct Counts {
        deleted: usize,
        absent: usize,
    }
    let counts: Counts = serde_json::from_slice(body).ok()?;
    Some(BatchDeleted {
        deleted: counts.deleted,
        absent: counts.absent,
    })
}

/// Whether a refusal carries the site's own reason: a body that is not an HTML error page (a
/// proxy's or a web server's generic "403 Forbidden" page says nothing about the cause).
fn gave_reason(said: &str, headers: &HeaderMap) -> bool {
    let html = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    !said.trim().is_empty() && !html
}

/// The certificate report's own readings of a 403, a 400 and a 404 without a code (the deploy
/// hook); `None` for the statuses every call shares.
fn describe_report_status(
    user: &str,
    status: StatusCode,
    said: &str,
    headers: &HeaderMap,
) -> Option<String> {
    match status {
        // The site's reason is the advice, as for a challenge's 403.
        StatusCode::FORBIDDEN if gave_reason(said, headers) => None,
        StatusCode::FORBIDDEN => Some(format!(
            "the site answered 403 Forbidden{said}: user '{user}' lacks the permission to report \
             certificates (on the site run 'python manage.py certbot_client {user}', which grants \
             it), or a name of the certificate is outside the key's scope ('python manage.py \
             certbot_client {user} --list-keys' shows it) or the site's \
             ACME_CHALLENGE_ALLOWED_DOMAINS"
        )),
        StatusCode::BAD_REQUEST if refuses_json_report(said) => Some(format!(
            "the site answered 400 Bad Request{said}: the site's django-acme-challenge predates \
             reports that send the certificate itself (this deploy-hook sends the chain as JSON; \
             older ones sent a form of claims about it): upgrade django-acme-challenge on the \
             site and run manage.py migrate"
        )),
        StatusCode::NOT_FOUND => Some(format!(
            "the site answered 404 Not Found{said}: the site has no certificate reports at this \
             URL. Its django-acme-challenge predates them (upgrade it and run manage.py migrate), \
             or --server is wrong"
        )),
        _ => None,
    }
}

/// Reads an answer that is not what the request wanted. A redirect is final and becomes the
/// error (`Err`), never followed; anything else gives its headers and its body as one clean line
/// with a leading space, empty when there is no body, to follow the status in a message.
/// `secrets` (the request's JWT) are removed from everything taken from the response.
fn read_refusal(
    response: &mut reqwest::blocking::Response,
    secrets: &[&str],
) -> Result<(HeaderMap, String), String> {
    let status = response.status();
    let headers = response.headers().clone();
    if status.is_redirection() {
        return Err(describe_redirect(status, &headers, secrets));
    }
    let (body, _) = read_at_most(response, MAX_ERROR_BODY);
    let excerpt = body_excerpt_hiding(&body, &headers, MAX_SHOWN_BODY, secrets);
    let said = if excerpt.is_empty() {
        String::new()
    } else {
        format!(" {excerpt}")
    };
    Ok((headers, said))
}

fn describe_redirect(status: StatusCode, headers: &HeaderMap, secrets: &[&str]) -> String {
    let location = headers
        .get(LOCATION)
        .map(|v| one_line_hiding(&String::from_utf8_lossy(v.as_bytes()), 200, secrets))
        .unwrap_or_else(|| "(no Location header)".to_string());
    format!(
        "the site answered {status} redirecting to {location}. Redirects are never followed (a \
         followed redirect turns the POST into a GET that can look like success): set --server to \
         the URL the site wants, for example https:// instead of http://, or the other www form"
    )
}

/// Why a request got no answer, with what to check on the way to `url`: `auth-hook check`'s
/// server step says this, and the hooks say it of a connection they could not make.
fn describe_unreachable(failure: &Failure, url: &Url, took: Duration) -> String {
    let host = url.host_str().unwrap_or("?");
    let port = url.port_or_known_default().unwrap_or(0);
    match failure {
        Failure::Dns(_) | Failure::Tls(_) => failure.to_string(),
        Failure::Timeout => format!(
            "no answer within {:.1} s: is a firewall dropping packets to {host} port {port}, or is \
             the site hung? Check --server (and --resolve)",
            took.as_secs_f64()
        ),
        Failure::Connection(text) => format!(
            "{text}: is the site running and listening on {host} port {port}? Check --server (and \
             --resolve), and any firewall in between"
        ),
    }
}

/// Whether a 400's body is a site that takes only the old form of certificate report: its words
/// were "body: send the report as a form (application/x-www-form-urlencoded), as deploy-hook
/// does", or a form field it misses ("serial: required"). Read only without a refusal code: such
/// sites predate the codes.
fn refuses_json_report(said: &str) -> bool {
    said.contains("send the report as a form") || said.contains("serial: required")
}

/// Whether a 401's body is the site refusing the JWT's request binding (the contract's "JWT is
/// bound to ... but this request is ..." and "JWT body hash does not match ..."), rather than the
/// key or the signature. Read only without a refusal code (an app before the codes).
fn refuses_binding(said: &str) -> bool {
    let said = said.to_ascii_lowercase();
    said.contains("jwt is bound to") || said.contains("body hash")
}

/// The form as `application/x-www-form-urlencoded` bytes, the encoding reqwest's `.form()` uses
/// (the url crate's serializer): built once, so the JWT hashes exactly what is sent.
fn form_body(form: &[(&str, &str)]) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish()
        .into_bytes()
}

/// `base` plus up to half again, at random, so several certbot runs do not retry in lockstep.
fn jittered(base: Duration) -> Duration {
    base.mul_f64(1.0 + crate::random::fraction() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hook_test_support::{Reply, TestServer};

    #[test]
    fn the_form_body_is_url_encoded_as_reqwest_would() {
        assert_eq!(
            form_body(&[
                ("challenge", "tok-_1"),
                ("response", "tok-_1.th"),
                ("domain", "a.b")
            ]),
            b"challenge=tok-_1&response=tok-_1.th&domain=a.b"
        );
        assert_eq!(form_body(&[("x", "a b&c=d/é")]), b"x=a+b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn a_401_about_the_binding_is_told_apart_from_an_unknown_key() {
        assert!(refuses_binding(
            " \"JWT is bound to POST https://a.example/.well-known/challenges/ but this request \
             is POST to host 'b.example' path '/.well-known/challenges/'\""
        ));
        assert!(refuses_binding(
            " \"JWT body hash does not match the request body\""
        ));
        assert!(!refuses_binding(" \"authentication required\""));
        assert!(!refuses_binding(""));
    }

    fn challenge(domain: &str, token: &str) -> Challenge {
        Challenge::parse(
            domain,
            token,
            &format!("{token}.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ"),
        )
        .unwrap()
    }

    #[test]
    fn a_batch_push_carries_the_three_fields_of_a_single_push_per_challenge() {
        let body = push_batch_body(&[
            challenge("a.example", "tok-a"),
            challenge("xn--bcher-kva.example", "tok_b"),
        ]);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"challenges": [
                {"challenge": "tok-a", "response": "tok-a.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ", "domain": "a.example"},
                {"challenge": "tok_b", "response": "tok_b.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ", "domain": "xn--bcher-kva.example"},
            ]})
        );
    }

    #[test]
    fn a_batch_delete_carries_the_tokens_and_its_answer_counts_them() {
        assert_eq!(
            delete_batch_body(&["tok-a", "tok_b"]),
            br#"{"tokens":["tok-a","tok_b"]}"#
        );
        assert_eq!(
            parse_batch_deleted(br#"{"deleted": 2, "absent": 1}"#),
            Some(BatchDeleted {
                deleted: 2,
                absent: 1
            })
        );
        assert_eq!(parse_batch_deleted(b"deleted"), None);
        assert_eq!(
            parse_batch_deleted(br#"{"deleted": -1, "absent": 0}"#),
            None
        );
    }

    /// A client of the site at `port` over plain http, its reporter writing nowhere.
    fn with_client<R>(port: u16, run: impl FnOnce(&ApiClient<'_>) -> R) -> R {
        let options = crate::config::Options {
            server: Some(format!("http://127.0.0.1:{port}")),
            ..Default::default()
        };
        let settings = Settings::from_parts(&options, None).unwrap();
        let signer = crate::key::generate_key(crate::key::KeyType::Ed25519, 0)
            .unwrap()
            .signer;
        let reporter = Reporter::new("test", Default::default(), Box::new(std::io::sink()));
        let identifier = Identifier::parse("example.test").unwrap();
        let client = ApiClient::new(
            &settings,
            &identifier,
            &signer,
            Deadline::new(Duration::from_secs(5)),
            &reporter,
        )
        .unwrap();
        run(&client)
    }

    #[test]
    fn a_batch_url_answering_404_or_405_without_a_code_is_a_site_without_batches() {
        for status in [404, 405] {
            let site = TestServer::start(move |_, _| Reply::text(status, "Not Found"));
            with_client(site.port(), |api| {
                let pushed = api.push_batch(&[challenge("example.test", "tok")]).unwrap();
                assert_eq!(pushed, Batch::Unsupported, "{status}");
                let deleted = api.delete_batch(&["tok"]).unwrap();
                assert_eq!(deleted, Batch::Unsupported, "{status}");
            });
            assert_eq!(site.count(), 2, "one request each, not retried");
        }
    }

    #[test]
    fn a_batch_url_answering_404_with_a_refusal_code_is_a_refusal() {
        let site = TestServer::start(|_, _| {
            Reply::text(404, "no such user").header("Acme-Challenge-Refusal", "jwt-refused")
        });
        with_client(site.port(), |api| {
            let err = api
                .push_batch(&[challenge("example.test", "tok")])
                .unwrap_err();
            assert_eq!(err.status(), Some(404));
            let err = api.delete_batch(&["tok"]).unwrap_err();
            assert_eq!(err.status(), Some(404));
        });
        assert_eq!(site.count(), 2);
    }

    #[test]
    fn a_batch_is_one_post_whose_jwt_binds_the_whole_json_body() {
        let site = TestServer::start(|req, _| match req.path.as_str() {
            "/.well-known/challenge-batch/" => Reply::text(201, r#"{"stored": 2}"#),
            "/.well-known/challenge-batch/delete/" => {
                Reply::text(200, r#"{"deleted": 1, "absent": 1}"#)
            }
            _ => Reply::text(500, "unexpected"),
        });
        with_client(site.port(), |api| {
            let pushed = api
                .push_batch(&[
                    challenge("a.example", "tok-a"),
                    challenge("b.example", "tok-b"),
                ])
                .unwrap();
            assert_eq!(pushed, Batch::Done(201));
            let deleted = api.delete_batch(&["tok-a", "tok-b"]).unwrap();
            assert_eq!(
                deleted,
                Batch::Done(BatchDeleted {
                    deleted: 1,
                    absent: 1
                })
            );
        });
        let requests = site.with_method("POST");
        assert_eq!(requests.len(), 2);
        for req in &requests {
            assert_eq!(req.header("content-type"), Some("application/json"));
            // htm, htu and bsh (the body's SHA-256) match the request as the site reads it.
            req.check_binding().unwrap();
        }
        let pushed: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
        assert_eq!(pushed["challenges"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_batch_refused_as_too_large_says_to_push_one_at_a_time() {
        let site = TestServer::start(|_, _| {
            Reply::text(400, "challenges: at most 100")
                .header("Acme-Challenge-Refusal", "batch-too-large")
        });
        let err = with_client(site.port(), |api| {
            api.push_batch(&[challenge("example.test", "tok")])
                .unwrap_err()
        });
        let text = err.to_string();
        assert!(
            text.contains("(refusal code batch-too-large): a certificate has at most 100 names")
                && text.contains("push one at a time with --no-batch"),
            "{text}"
        );
        assert!(!err.push_may_have_stored(), "a refusal stored nothing");
    }

    #[test]
    fn a_batch_delete_whose_answer_does_not_count_every_token_fails() {
        let site = TestServer::start(|_, _| Reply::text(200, r#"{"deleted": 1, "absent": 0}"#));
        with_client(site.port(), |api| {
            let err = api.delete_batch(&["tok-a", "tok-b"]).unwrap_err();
            assert_eq!(err.status(), Some(200));
        });
    }

    #[test]
    fn backoff_jitter_stays_within_half_again() {
        for _ in 0..50 {
            let d = jittered(Duration::from_secs(2));
            assert!(
                d >= Duration::from_secs(2) && d < Duration::from_secs(3),
                "{d:?}"
            );
        }
    }

    #[test]
    fn a_refused_connection_asks_whether_the_site_listens_on_that_host_and_port() {
        let url = Url::parse("http://127.0.0.1:5099/.well-known/challenges/").unwrap();
        let failure =
            Failure::Connection("cannot connect: Connection refused (os error 111)".into());
        assert_eq!(
            describe_unreachable(&failure, &url, Duration::from_millis(3)),
            "cannot connect: Connection refused (os error 111): is the site running and listening \
             on 127.0.0.1 port 5099? Check --server (and --resolve), and any firewall in between"
        );
    }

    #[test]
    fn redirect_messages_name_the_location_safely() {
        let mut headers = HeaderMap::new();
        headers.insert(
            LOCATION,
            HeaderValue::from_static("https://example.com/.well-known/challenges/"),
        );
        let text = describe_redirect(StatusCode::MOVED_PERMANENTLY, &headers, &[]);
        assert!(
            text.contains(
                "301 Moved Permanently redirecting to https://example.com/.well-known/challenges/"
            ),
            "{text}"
        );
        assert!(
            describe_redirect(StatusCode::FOUND, &HeaderMap::new(), &[])
                .contains("(no Location header)")
        );
    }
}
