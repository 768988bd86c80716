//! The self-check: after the push, fetch the challenge the way the CA will, until it is served.
//!
//! certbot ignores the auth hook's exit status and asks the CA to validate regardless
//! (certbot#7990), and Let's Encrypt allows 5 failed validations per hostname per hour. So the
//! auth hook only reports success once the public URL answers 200 with exactly the validation.
//! Like Let's Encrypt, the check sends no credentials, follows at most 10 redirects and only to
//! ports 80 and 443, and does not validate the certificate of an https redirect target. One
//! addition: redirects to the starting URL's own port are allowed too, so a test or staging site
//! on, say, port 5002 can be checked; the CA itself always starts on port 80.

use std::time::{Duration, Instant};

use reqwest::header::LOCATION;
use reqwest::{StatusCode, Url};

use crate::error::Error;
use crate::output::Reporter;
use crate::transport::{
    Deadline, ResolveRule, TlsMode, body_excerpt, build_client, classify, read_capped,
};

/// Most of a self-check body that is read: the validation is 44 to 172 characters.
pub const MAX_BODY: u64 = 512;
/// Redirects followed per attempt, as Let's Encrypt does.
pub const MAX_REDIRECTS: usize = 10;
/// Longest single GET.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Poll interval: starts short (most sites serve at once), doubles to at most 2 s.
const FIRST_INTERVAL: Duration = Duration::from_millis(250);
const MAX_INTERVAL: Duration = Duration::from_secs(2);

/// How a successful self-check went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// GETs made (redirect hops not counted).
    pub attempts: u32,
    /// Time spent.
    pub elapsed: Duration,
}

/// The result of one fetch, redirects followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200 with exactly the validation (and at most one trailing newline).
    Served,
    /// Anything else, described for the operator.
    NotServed(String),
}

/// Polls `url` until it serves `validation` or the deadline passes.
pub fn wait_until_served(
    url: &Url,
    validation: &str,
    resolve: &[ResolveRule],
    deadline: Deadline,
    reporter: &Reporter,
) -> Result<Served, Error> {
    let started = Instant::now();
    let client = build_client(
        TlsMode::AcceptAny,
        resolve,
        None,
        deadline
            .cap(CONNECT_TIMEOUT)
            .max(Duration::from_millis(100)),
    )?;
    let mut attempts = 0u32;
    let mut interval = FIRST_INTERVAL;
    let mut last = String::from("nothing: no attempt fitted in the deadline");
    while !deadline.remaining().is_zero() {
        attempts += 1;
        let t = Instant::now();
        let answer = fetch(&client, url, validation, deadline);
        let took = t.elapsed().as_millis();
        match answer {
            Answer::Served => {
                reporter.step(format_args!(
                    "self-check attempt {attempts}: {url} serves the validation ({took} ms)"
                ));
                return Ok(Served {
                    attempts,
                    elapsed: started.elapsed(),
                });
            }
            Answer::NotServed(text) => {
                reporter.step(format_args!(
                    "self-check attempt {attempts}: {url} answered {text} ({took} ms)"
                ));
                last = text;
            }
        }
        if interval + Duration::from_millis(50) > deadline.remaining() {
            break;
        }
        std::thread::sleep(interval);
        interval = (interval * 2).min(MAX_INTERVAL);
    }
    Err(Error::SelfCheck {
        url: url.to_string(),
        waited_secs: started.elapsed().as_secs_f64(),
        attempts,
        last,
        hint: "The API stored the challenge, but the URL the CA fetches does not serve it. Check \
               that every node behind the load balancer serves /.well-known/acme-challenge/ from \
               the app and shares its database, and that no proxy in front answers that path \
               itself; aim the check at a node with --resolve, or change --self-check-url. certbot \
               will still ask the CA to validate, which will probably fail."
            .to_string(),
    })
}

/// One fetch of `url`, following allowed redirects.
pub fn fetch(
    client: &reqwest::blocking::Client,
    url: &Url,
    validation: &str,
    deadline: Deadline,
) -> Answer {
    let own_port = url.port_or_known_default();
    let mut current = url.clone();
    for hop in 0..=MAX_REDIRECTS {
        let timeout = deadline.cap(ATTEMPT_TIMEOUT);
        if timeout.is_zero() {
            return Answer::NotServed("nothing before the deadline".into());
        }
        let mut response = match client.get(current.clone()).timeout(timeout).send() {
            Ok(response) => response,
            Err(err) => {
                let via = if hop > 0 {
                    format!(" (after redirects, at {current})")
                } else {
                    String::new()
                };
                return Answer::NotServed(format!("{}{via}", classify(&err)));
            }
        };
        let status = response.status();
        if status.is_redirection() {
            let Some(location) = response.headers().get(LOCATION) else {
                return Answer::NotServed(format!("{status} without a Location header"));
            };
            let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
            let next = match current.join(&location) {
                Ok(next) => next,
                Err(_) => {
                    return Answer::NotServed(format!(
                        "{status} to an invalid Location {}",
                        crate::transport::one_line(&location, 200)
                    ));
                }
            };
            if hop == MAX_REDIRECTS {
                return Answer::NotServed(format!(
                    "more than {MAX_REDIRECTS} redirects (the last to {next}); the CA gives up there too"
                ));
            }
            let port = next.port_or_known_default();
            let allowed_scheme = matches!(next.scheme(), "http" | "https");
            let allowed_port = matches!(port, Some(80 | 443)) || port == own_port;
            if !allowed_scheme || !allowed_port {
                return Answer::NotServed(format!(
                    "{status} redirecting to {next}, which the CA will not follow: it follows \
                     redirects only to http or https on ports 80 and 443"
                ));
            }
            current = next;
            continue;
        }
        let headers = response.headers().clone();
        let body = read_capped(&mut response, MAX_BODY);
        if status == StatusCode::OK {
            let served = body == validation.as_bytes()
                || body.strip_suffix(b"\n") == Some(validation.as_bytes());
            if served {
                return Answer::Served;
            }
            let excerpt = body_excerpt(&body, &headers, 100);
            return Answer::NotServed(if excerpt.is_empty() {
                "200 OK with an empty body".to_string()
            } else {
                format!("200 OK with a different body: {excerpt}")
            });
        }
        let excerpt = body_excerpt(&body, &headers, 100);
        return Answer::NotServed(if excerpt.is_empty() {
            status.to_string()
        } else {
            format!("{status} {excerpt}")
        });
    }
    unreachable!("the loop returns by the last hop")
}
