//! Advice that several messages give, worded once: how to register a key on the site, what
//! becomes of a challenge left on the site, and what to fix when the API is not where
//! `--server` points.
//!
//! The same situation reached from two commands (the auth hook's 401 and `auth-hook check`'s,
//! keygen's instructions and the check's) must get the same fix, or an operator following one
//! doubts the other.

use std::path::Path;

use crate::challenge::Challenge;

/// The command that registers a public key file for `user` on the site.
pub(crate) fn register_command(user: &str, public_key_file: &str) -> String {
    format!("python manage.py certbot_client {user} --public-key-file {public_key_file}")
}

/// The public key file the instructions name: `{user}.pub`.
pub(crate) fn public_key_file_name(user: &str) -> String {
    format!("{user}.pub")
}

/// One sentence for an error message: how to register the key at `key_path` for `user`.
pub(crate) fn register_briefly(user: &str, key_path: Option<&Path>) -> String {
    let file = public_key_file_name(user);
    let key = key_path.map_or("KEY".to_string(), |p| p.display().to_string());
    format!(
        "print it with 'auth-hook public-key --key-file {key} > {file}', then on the site run \
         '{}'",
        register_command(user, &file)
    )
}

/// Where the public key to register is.
pub(crate) enum PublicKeyAt<'a> {
    /// Printed on stdout (or above): it can be printed again from the private key.
    Printed { key_path: &'a Path },
    /// stdout was redirected to this file, which now holds it.
    File(&'a Path),
}

/// The lines that tell the operator how to register a public key for `user`: the command on
/// the site, or the Django admin page `admin_url`. Ends with a newline.
pub(crate) fn register_fully(user: &str, at: PublicKeyAt<'_>, admin_url: &str) -> String {
    let (save, file) = match at {
        PublicKeyAt::Printed { key_path } => {
            let file = public_key_file_name(user);
            (
                format!(
                    "save it to a file with 'auth-hook public-key --key-file {} > {file}', copy \
                     that to the site, and there run:",
                    key_path.display()
                ),
                file,
            )
        }
        PublicKeyAt::File(path) => {
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into(),
            );
            (
                format!("copy {} to the site, and there run:", path.display()),
                name,
            )
        }
    };
    format!(
        "Register the public key for the Django user '{user}' on the site, either:\n\
         \x20 - {save}\n\
         \x20     {}\n\
         \x20 - or paste it into the Django admin at {admin_url} for user '{user}'.\n",
        register_command(user, &file)
    )
}

/// What becomes of a challenge this run could not delete, and how to delete it now. The Django
/// admin shows challenges read-only (it cannot delete them), so it is not offered.
pub(crate) fn leftover_challenge(challenge: &Challenge) -> String {
    format!(
        "the site stops serving it after ACME_CHALLENGE_TTL (a day by default), and 'python \
         manage.py acme_challenge_purge' (or the next challenge written) then deletes it; to \
         delete it now, run cleanup-hook with the same options and CERTBOT_DOMAIN={} \
         CERTBOT_TOKEN={} CERTBOT_VALIDATION={} in its environment",
        challenge.identifier(),
        challenge.token(),
        challenge.validation()
    )
}

/// The command that lists `user`'s keys on the site, with their scope and last use.
pub(crate) fn list_keys_command(user: &str) -> String {
    format!("python manage.py certbot_client {user} --list-keys")
}

/// The command that gives `user` exactly the permissions the hooks need.
pub(crate) fn grant_command(user: &str) -> String {
    format!("python manage.py certbot_client {user}")
}

/// What a 403 from the challenge API may mean when the site did not say why (an empty body, or
/// an HTML page from a proxy in front of it): the causes the app refuses a push or a deletion
/// for, each with the command that settles it. When the site says why, its words are the advice
/// and this is not added. `permission` is "add" or "delete".
pub(crate) fn forbidden_causes(user: &str, permission: &str) -> String {
    format!(
        "user '{user}' lacks the permission to {permission} challenges (on the site run '{}', \
         which grants it), or the domain is outside the key's scope ('{}' shows it) or the \
         site's ACME_CHALLENGE_ALLOWED_DOMAINS, or the key is not registered for '{user}'",
        grant_command(user),
        list_keys_command(user)
    )
}

/// What a refused JWT (a 401 that is not about the binding) may mean, with the fix for each:
/// the key is not registered, the user name is wrong, or the clock (`clock`, ", or ...").
pub(crate) fn jwt_refused(user: &str, clock: &str) -> String {
    format!(
        "it accepted no valid JWT. The public key is probably not registered for user '{user}' \
         ({}), or --username is wrong{clock}",
        register_briefly(user, None)
    )
}

/// A 401 about the JWT's binding to the request (method, host, path, body): the request was
/// changed on its way, or signed for another URL.
pub(crate) fn request_changed_on_the_way() -> &'static str {
    "the signed request did not reach the Django app as it was sent. A proxy in between changes \
     the Host header, the path or the body (pass them through unchanged, e.g. nginx \
     'proxy_set_header Host $host', or set USE_X_FORWARDED_HOST on the site behind a proxy that \
     sets X-Forwarded-Host), or --server is not the URL the site is reached at"
}

/// A name the site's allow-list lacks.
pub(crate) fn add_allowed_domain() -> &'static str {
    "add the name, or a '*.' pattern that covers it, to ACME_CHALLENGE_ALLOWED_DOMAINS in the \
     site's settings"
}

/// A request the site reads as malformed although these hooks built it: one side is older.
pub(crate) fn versions_disagree() -> &'static str {
    "the site and these hooks disagree on the request's form: upgrade the older of the two \
     (django-acme-challenge on the site, or the hooks)"
}

/// A reported chain the site does not trust.
pub(crate) fn trust_private_ca() -> &'static str {
    "report fullchain.pem; for a private CA, list its root in the site's \
     ACME_CHALLENGE_TRUST_ROOTS"
}

/// The fix for a 404 from the challenge API: the one advice, whichever request met it.
pub(crate) fn api_not_mounted(url: &impl std::fmt::Display) -> String {
    format!(
        "the challenge API is not mounted at {url}: check --server (the site's base URL), and \
         that the site's urls.py has path(\".well-known/\", include(\"acme_challenge.urls\"))"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leftover_challenge_is_never_sent_to_the_admin_which_cannot_delete() {
        let challenge = Challenge::parse(
            "example.com",
            "tok",
            "tok.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ",
        )
        .unwrap();
        let text = leftover_challenge(&challenge);
        assert!(!text.contains("admin"), "{text}");
        assert!(text.contains("ACME_CHALLENGE_TTL"), "{text}");
        assert!(text.contains("acme_challenge_purge"), "{text}");
        assert!(
            text.contains(
                "CERTBOT_DOMAIN=example.com CERTBOT_TOKEN=tok CERTBOT_VALIDATION=tok.nP1q"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_redirected_public_key_is_registered_from_its_file() {
        let text = register_fully(
            "acme",
            PublicKeyAt::File(Path::new("/root/acme-key.pub")),
            "https://site/admin/",
        );
        assert!(
            text.contains("copy /root/acme-key.pub to the site"),
            "{text}"
        );
        assert!(
            text.contains("certbot_client acme --public-key-file acme-key.pub"),
            "{text}"
        );
        let text = register_fully(
            "acme",
            PublicKeyAt::Printed {
                key_path: Path::new("/k.pem"),
            },
            "https://site/admin/",
        );
        assert!(
            text.contains("'auth-hook public-key --key-file /k.pem > acme.pub'"),
            "{text}"
        );
        assert!(
            text.contains("certbot_client acme --public-key-file acme.pub"),
            "{text}"
        );
    }
}
