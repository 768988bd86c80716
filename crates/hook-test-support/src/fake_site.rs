//! A fake site speaking the challenge API on a [`crate::TestServer`]: it stores, serves and
//! deletes challenges, and, like the real app, refuses a JWT that is not bound to the request it
//! came with.

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
        let api = req.path.starts_with("/.well-known/challenges/");
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
