//! A fake site speaking the challenge API on a [`crate::TestServer`]: it stores, serves and
//! deletes challenges, takes certificate reports as the real app's contract says (JSON with the
//! chain, [`check_report`]), and, like the real app, refuses a JWT that is not bound to the
//! request it came with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::server::{Reply, Request, TestServer};

/// How the fake site serves stored challenges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// As soon as they are stored.
    AtOnce,
    /// Only this long after the POST (replication lag).
    After(Duration),
    /// Never: every GET is a 404.
    Never,
}

/// A fake site speaking the challenge API: POST stores, GET serves, DELETE removes.
/// `override_reply` may answer a request first (to inject faults); `None` falls through. Like the
/// real site, it answers 401 to an API request whose JWT is not bound to it
/// ([`Request::check_binding`]).
pub fn fake_site(
    serving: Serving,
    override_reply: impl Fn(&Request, &[Request]) -> Option<Reply> + Send + Sync + 'static,
) -> TestServer {
    fake_site_at("127.0.0.1:0", &Store::default(), serving, override_reply)
}

/// The challenges a fake site stores: its database. Clones share it, so several fake sites
/// (nodes) can serve from one store, or each from its own.
#[derive(Clone, Default)]
pub struct Store(Arc<Mutex<HashMap<String, (String, Instant)>>>);

/// [`fake_site`] listening on `addr` (see [`TestServer::start_at`]) and keeping its challenges
/// in `store`.
pub fn fake_site_at(
    addr: &str,
    store: &Store,
    serving: Serving,
    override_reply: impl Fn(&Request, &[Request]) -> Option<Reply> + Send + Sync + 'static,
) -> TestServer {
    let store = Arc::clone(&store.0);
    TestServer::start_at(addr, move |req, earlier| {
        if let Some(reply) = override_reply(req, earlier) {
            return reply;
        }
        let api = req.path.starts_with("/.well-known/challenges/")
            || req.path.starts_with(BATCH)
            || req.path == REPORTS;
        if api
            && req.method != "GET"
            && req.header("authorization").is_some()
            && let Err(mismatch) = req.check_binding()
        {
            return Reply::text(401, &mismatch).header("WWW-Authenticate", "JWT");
        }
        let mut store = store.lock().unwrap();
        match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/.well-known/challenges/") => {
                let form = req.form();
                let (Some(token), Some(response)) = (form.get("challenge"), form.get("response"))
                else {
                    return Reply::text(400, "missing challenge or response");
                };
                store.insert(token.clone(), (response.clone(), Instant::now()));
                Reply::text(201, "created")
            }
            ("POST", BATCH) => {
                let Some(items) = batch_items(req, "challenges") else {
                    return Reply::text(400, "body: expected {\"challenges\": [...]}");
                };
                let mut pairs = Vec::new();
                for item in &items {
                    let field = |name: &str| item.get(name).and_then(|v| v.as_str());
                    let (Some(token), Some(response), Some(_)) =
                        (field("challenge"), field("response"), field("domain"))
                    else {
                        return Reply::text(400, "an item lacks challenge, response or domain");
                    };
                    pairs.push((token.to_string(), response.to_string()));
                }
                let stored = pairs.len();
                for (token, response) in pairs {
                    store.insert(token, (response, Instant::now()));
                }
                Reply::json(201, &serde_json::json!({ "stored": stored }))
            }
            ("POST", BATCH_DELETE) => {
                let Some(tokens) = batch_items(req, "tokens") else {
                    return Reply::text(400, "body: expected {\"tokens\": [...]}");
                };
                let (mut deleted, mut absent) = (0, 0);
                for token in tokens.iter().filter_map(|t| t.as_str()) {
                    match store.remove(token) {
                        Some(_) => deleted += 1,
                        None => absent += 1,
                    }
                }
                Reply::json(
                    200,
                    &serde_json::json!({ "deleted": deleted, "absent": absent }),
                )
            }
            ("POST", REPORTS) => match check_report(req) {
                Ok(_) => Reply::text(201, "certificate recorded"),
                Err(problem) => Reply::text(400, &problem),
            },
            ("GET", path) if path.starts_with("/.well-known/acme-challenge/") => {
                let token = &path["/.well-known/acme-challenge/".len()..];
                match (store.get(token), serving) {
                    (Some((validation, _)), Serving::AtOnce) => Reply::text(200, validation),
                    (Some((validation, stored)), Serving::After(lag))
                        if stored.elapsed() >= lag =>
                    {
                        Reply::text(200, validation)
                    }
                    _ => Reply::text(404, "Not Found"),
                }
            }
            ("DELETE", path) if path.starts_with("/.well-known/challenges/") => {
                let token = path["/.well-known/challenges/".len()..].trim_end_matches('/');
                match store.remove(token) {
                    Some(_) => Reply::status(204),
                    None => Reply::text(404, "no such challenge"),
                }
            }
            _ => Reply::text(404, "Not Found"),
        }
    })
}

/// Where a batch of challenges is pushed.
pub const BATCH: &str = "/.well-known/challenge-batch/";

/// Where a batch of challenges is deleted.
pub const BATCH_DELETE: &str = "/.well-known/challenge-batch/delete/";

/// The list under `key` in a JSON object body, if the body is one.
fn batch_items(req: &Request, key: &str) -> Option<Vec<serde_json::Value>> {
    let json: serde_json::Value = serde_json::from_slice(&req.body).ok()?;
    let items = json.get(key)?.as_array()?.clone();
    (!items.is_empty()).then_some(items)
}

/// An older site (the original certbot-django server, or the app before batches), for
/// `fake_site`'s override: the batch URLs answer a plain 404, with no refusal code.
pub fn without_batches(req: &Request) -> Option<Reply> {
    req.path
        .starts_with(BATCH)
        .then(|| Reply::text(404, "Not Found"))
}

/// The batch requests among `requests`: pushes (`delete` false) or deletes.
pub fn batch_requests(requests: &[Request], delete: bool) -> Vec<Request> {
    let path = if delete { BATCH_DELETE } else { BATCH };
    requests
        .iter()
        .filter(|r| r.method == "POST" && r.path == path)
        .cloned()
        .collect()
}

/// How many challenges (or tokens) a batch request carries.
pub fn batch_size(req: &Request) -> usize {
    batch_items(req, "challenges")
        .or_else(|| batch_items(req, "tokens"))
        .map_or(0, |items| items.len())
}

/// Where certificate reports go.
pub const REPORTS: &str = "/.well-known/certificates/";

/// Most bytes of a report body the site takes.
pub const MAX_REPORT_BODY: usize = 64 * 1024;

/// A certificate report as the site's contract takes it: `Content-Type: application/json`, at
/// most 64 KiB, a JSON object with exactly `chain` (PEM text of `CERTIFICATE` blocks, the leaf
/// first, nothing else) and `lineage` (a string, empty when unknown). `Ok` gives the DER of each
/// certificate and the lineage; `Err` the site's reason, as the 400 it answers says it.
pub fn check_report(req: &Request) -> Result<(Vec<Vec<u8>>, String), String> {
    if req.header("content-type") != Some("application/json") {
        return Err("body: send the report as JSON (application/json)".into());
    }
    if req.body.len() > MAX_REPORT_BODY {
        return Err(format!("body: larger than {MAX_REPORT_BODY} bytes"));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&req.body).map_err(|_| "body: is not valid JSON".to_string())?;
    let object = json
        .as_object()
        .filter(|o| o.len() == 2)
        .ok_or("body: must be a JSON object with exactly 'chain' and 'lineage'")?;
    let (Some(chain), Some(lineage)) = (
        object.get("chain").and_then(|v| v.as_str()),
        object.get("lineage").and_then(|v| v.as_str()),
    ) else {
        return Err("body: 'chain' and 'lineage' must be strings".into());
    };
    let mut certificates = Vec::new();
    let mut rest = chain.trim();
    while !rest.is_empty() {
        let block = rest
            .strip_prefix("-----BEGIN CERTIFICATE-----")
            .and_then(|r| r.split_once("-----END CERTIFICATE-----"))
            .ok_or("chain: must be PEM CERTIFICATE blocks only")?;
        let base64: String = block.0.chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, base64)
            .map_err(|_| "chain: a CERTIFICATE block is not base64".to_string())?;
        certificates.push(der);
        rest = block.1.trim_start();
    }
    if certificates.is_empty() {
        return Err("chain: required, the leaf first".into());
    }
    Ok((certificates, lineage.to_string()))
}

/// The real app's answer to an API request (POST, or DELETE) without `Authorization`: 401 with
/// `WWW-Authenticate: JWT`. For `fake_site`'s override, so `auth-hook check` finds the API.
pub fn refuse_without_jwt(req: &Request) -> Option<Reply> {
    let api = req.path.starts_with("/.well-known/challenges/");
    (api && req.method != "GET" && req.header("authorization").is_none()).then(|| {
        Reply::text(
            401,
            "authentication required: send 'Authorization: JWT <token>'",
        )
        .header("WWW-Authenticate", "JWT")
    })
}
