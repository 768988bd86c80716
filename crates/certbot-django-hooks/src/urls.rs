//! Every URL the hooks build, in one place: the site's base URL from the `--server` template,
//! the API's paths under it, the admin page that registers a key, and the self-check URL.
//!
//! One rule for the trailing slash: templates are kept as the operator wrote them, and the
//! site's base URL always ends with exactly one `/`, because the API's paths are joined onto it
//! relatively (a site under a sub-path, `https://example.com/app`, keeps its `/app`).

use reqwest::Url;

use crate::challenge::{Challenge, Identifier};

/// The challenge API, relative to the site's base URL.
pub const CHALLENGES_PATH: &str = ".well-known/challenges/";
/// Where many challenges are pushed in one request, relative to the site's base URL: apart from
/// the token routes, so that no token can collide with it and a site without batches (the
/// original certbot-django server, an older app) answers a plain 404.
pub const CHALLENGE_BATCH_PATH: &str = ".well-known/challenge-batch/";
/// Where many challenges are deleted in one request, relative to the site's base URL.
pub const CHALLENGE_BATCH_DELETE_PATH: &str = ".well-known/challenge-batch/delete/";
/// Where the deploy hook reports certificates, relative to the site's base URL.
pub const CERTIFICATES_PATH: &str = ".well-known/certificates/";
/// The Django admin page where a public key can be pasted, relative to the site's base URL.
pub const ADMIN_ADD_KEY_PATH: &str = "admin/asymmetric_jwt_auth/publickey/add/";

/// The site's endpoints the hooks call. Which one a request went to is carried as this value,
/// so the method, the permission a refusal is about and whether a failed call may have stored
/// something follow from it, never from a URL's ending or a method's name. (Here rather than in
/// `api`, the client that calls them, because `error` names them too and `api` imports `error`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST {server}/.well-known/challenges/`: store a challenge.
    PushChallenge,
    /// `DELETE {server}/.well-known/challenges/<token>/`: delete one.
    DeleteChallenge,
    /// `POST {server}/.well-known/certificates/`: report a certificate (the deploy hook).
    ReportCertificate,
    /// `POST {server}/.well-known/challenge-batch/`: store many challenges, all or nothing.
    PushBatch,
    /// `POST {server}/.well-known/challenge-batch/delete/`: delete many.
    DeleteBatch,
}

impl Endpoint {
    /// The HTTP method, as the request and the JWT's binding name it.
    pub fn method(self) -> &'static str {
        match self {
            Endpoint::PushChallenge
            | Endpoint::ReportCertificate
            | Endpoint::PushBatch
            | Endpoint::DeleteBatch => "POST",
            Endpoint::DeleteChallenge => "DELETE",
        }
    }

    /// Whether a failed call may have stored something: a push of one challenge or of a batch.
    pub fn stores(self) -> bool {
        matches!(self, Endpoint::PushChallenge | Endpoint::PushBatch)
    }

    /// The Django permission a refusal of this call may be about: "add" or "delete" a
    /// challenge (a certificate report's permission is its own, named where it is refused).
    pub fn permission(self) -> &'static str {
        match self {
            Endpoint::DeleteChallenge | Endpoint::DeleteBatch => "delete",
            Endpoint::PushChallenge | Endpoint::PushBatch | Endpoint::ReportCertificate => "add",
        }
    }
}

/// The site's base URL for `identifier`: `template` with `{domain}` replaced, ending with one `/`.
pub fn site_base(template: &str, identifier: &Identifier) -> Result<Url, String> {
    let text = template.replace("{domain}", &identifier.url_host());
    let mut url = parse_http_url(&text)?;
    let path = format!("{}/", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url)
}

fn under(base: &Url, relative: &str) -> Url {
    base.join(relative)
        .expect("a fixed or validated relative path joins onto an http(s) base URL")
}

/// `{server}/.well-known/challenges/`: where challenges are POSTed.
pub fn challenges(base: &Url) -> Url {
    under(base, CHALLENGES_PATH)
}

/// `{server}/.well-known/challenges/<token>/`: what a DELETE removes. The token is validated
/// (`[A-Za-z0-9_-]{1,127}`), so it is a single path segment.
pub fn challenge(base: &Url, token: &str) -> Url {
    under(base, &format!("{CHALLENGES_PATH}{token}/"))
}

/// `{server}/.well-known/challenge-batch/`: where a batch of challenges is POSTed.
pub fn challenge_batch(base: &Url) -> Url {
    under(base, CHALLENGE_BATCH_PATH)
}

/// `{server}/.well-known/challenge-batch/delete/`: where a batch delete is POSTed.
pub fn challenge_batch_delete(base: &Url) -> Url {
    under(base, CHALLENGE_BATCH_DELETE_PATH)
}

/// `{server}/.well-known/certificates/`: where the deploy hook reports certificates.
pub fn certificates(base: &Url) -> Url {
    under(base, CERTIFICATES_PATH)
}

/// The Django admin page where a public key can be pasted.
pub fn admin_add_key(base: &Url) -> Url {
    under(base, ADMIN_ADD_KEY_PATH)
}

/// The URL the self-check polls for `challenge`: `template` with `{domain}` and `{token}`
/// replaced.
pub fn self_check(template: &str, challenge: &Challenge) -> Result<Url, String> {
    let text = template
        .replace("{domain}", &challenge.identifier().url_host())
        .replace("{token}", challenge.token());
    parse_http_url(&text)
}

/// Checks a URL template: only the given placeholders, and a valid http(s) URL once they are
/// filled with sample values.
pub fn validate_template(template: &str, placeholders: &[&str]) -> Result<(), String> {
    let mut sample = template.to_string();
    for name in placeholders {
        sample = sample.replace(
            &format!("{{{name}}}"),
            if *name == "token" {
                "tok"
            } else {
                "example.com"
            },
        );
    }
    if sample.contains('{') || sample.contains('}') {
        let allowed: Vec<String> = placeholders.iter().map(|p| format!("{{{p}}}")).collect();
        return Err(format!(
            "{} has an unknown placeholder: only {} are replaced",
            crate::text::echo(template),
            allowed.join(" and ")
        ));
    }
    parse_http_url(&sample)
        .map_err(|problem| format!("{}: {problem}", crate::text::echo(template)))?;
    Ok(())
}

/// An http(s) URL with a host and no credentials, query or fragment.
pub fn parse_http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("not a valid URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the URL must start with http:// or https://".into());
    }
    if url.host().is_none() {
        return Err("the URL has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "the URL must not contain a user name or password: the hooks authenticate with the key"
                .into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the URL must not have a query string or fragment".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_url_ends_with_one_slash_and_keeps_a_sub_path() {
        let id = Identifier::parse("example.com").unwrap();
        for (template, base) in [
            ("https://{domain}", "https://example.com/"),
            ("https://{domain}/", "https://example.com/"),
            ("https://api.test/app", "https://api.test/app/"),
            ("https://api.test/app//", "https://api.test/app/"),
        ] {
            let url = site_base(template, &id).unwrap();
            assert_eq!(url.as_str(), base, "{template}");
            assert_eq!(
                challenge(&url, "tok").as_str(),
                format!("{base}.well-known/challenges/tok/")
            );
            assert_eq!(
                challenge_batch(&url).as_str(),
                format!("{base}.well-known/challenge-batch/")
            );
            assert_eq!(
                challenge_batch_delete(&url).as_str(),
                format!("{base}.well-known/challenge-batch/delete/")
            );
        }
    }
}
