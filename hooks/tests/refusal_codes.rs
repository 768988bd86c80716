//! auth-hook decides on the site's refusal code (`Acme-Challenge-Refusal`) when there is one:
//! each code gets its own fix, whatever the words beside it; the same answer without the header
//! (the original certbot-django server, an older app) is read by its status and words as before.

use hook_test_support::{Outcome, Reply, TestServer, keyed_dir, run_hook};

const BIN: &str = env!("CARGO_BIN_EXE_auth-hook");

/// What a 401 about the binding says, in the app's words.
const BINDING_WORDS: &str = "JWT is bound to POST http://example.test/.well-known/challenges/ but \
                             this request is POST to host '127.0.0.1' path '/.well-known/challenges/'";

/// The fix for a refused binding: the proxy or --server.
const PROXY_FIX: &str = "A proxy in between changes the Host header, the path or the body";
/// The fix for a refused JWT: register the key.
const REGISTER_FIX: &str = "then on the site run 'python manage.py certbot_client certbot \
                            --public-key-file certbot.pub'";

/// Runs auth-hook against a site that refuses every request with `status`, `body` and, if
/// given, the refusal `code`; the run must fail after one request (no refusal is retried).
fn refused(name: &str, status: u16, body: &str, code: Option<&str>) -> Outcome {
    let (_dir, key) = keyed_dir(name);
    let (body, code) = (body.to_string(), code.map(str::to_string));
    let site = TestServer::start(move |_, _| {
        let reply = Reply::text(status, &body);
        match &code {
            Some(code) => reply.header("Acme-Challenge-Refusal", code),
            None => reply,
        }
    });
    let out = run_hook(BIN, site.port(), &key, 5, &[]);
    out.assert_failure().assert_no_jwt();
    assert_eq!(site.count(), 1, "a refusal is not retried");
    out
}

fn lacks(out: &Outcome, needle: &str) {
    assert!(!out.stderr.contains(needle), "{}", out.stderr);
}

#[test]
fn a_401_coded_jwt_refused_says_register_the_key_even_in_the_words_of_a_binding_refusal() {
    let out = refused("jwt-refused", 401, BINDING_WORDS, Some("jwt-refused"));
    out.assert_stderr_contains("(refusal code jwt-refused): it accepted no valid JWT");
    out.assert_stderr_contains(REGISTER_FIX);
    out.assert_stderr_contains("clock is off");
    lacks(&out, PROXY_FIX);
}

#[test]
fn the_same_401_without_a_code_is_read_by_its_words_as_a_binding_refusal() {
    let out = refused("binding-words", 401, BINDING_WORDS, None);
    out.assert_stderr_contains(PROXY_FIX);
    lacks(&out, "refusal code");
    lacks(&out, "not registered");
}

#[test]
fn a_401_coded_as_a_binding_refusal_points_at_the_proxy_whatever_its_words() {
    for code in ["binding-mismatch", "binding-malformed", "binding-missing"] {
        let out = refused(code, 401, "authentication failed", Some(code));
        out.assert_stderr_contains(&format!(
            "401 Unauthorized \"authentication failed\" (refusal code {code}): the signed request \
             did not reach the Django app as it was sent."
        ));
        out.assert_stderr_contains("'proxy_set_header Host $host'");
        lacks(&out, "not registered");
    }
    // Without the code, those words are an unknown key's.
    let out = refused("uncoded-401", 401, "authentication failed", None);
    out.assert_stderr_contains(REGISTER_FIX);
    lacks(&out, PROXY_FIX);
}

#[test]
fn a_403_coded_permission_missing_names_the_command_that_grants_it_and_no_other_cause() {
    let out = refused("permission", 403, "nope", Some("permission-missing"));
    out.assert_stderr_contains(
        "403 Forbidden \"nope\" (refusal code permission-missing): on the site run 'python \
         manage.py certbot_client certbot', which grants user 'certbot' every permission",
    );
    lacks(&out, "scope");
    lacks(&out, "clock");
}

#[test]
fn a_403_coded_scope_outside_key_names_the_command_that_lists_the_keys_scopes() {
    let out = refused("scope", 403, "nope", Some("scope-outside-key"));
    out.assert_stderr_contains(
        "(refusal code scope-outside-key): 'python manage.py certbot_client certbot --list-keys' \
         on the site shows the scope",
    );
    lacks(&out, "lacks the permission");
}

#[test]
fn a_403_coded_name_not_allowed_names_the_setting_to_change() {
    let out = refused("allowed", 403, "nope", Some("name-not-allowed"));
    out.assert_stderr_contains(
        "(refusal code name-not-allowed): add the name, or a '*.' pattern that covers it, to \
         ACME_CHALLENGE_ALLOWED_DOMAINS",
    );
    lacks(&out, "lacks the permission");
}

#[test]
fn a_409_coded_not_owner_says_to_run_certbot_again() {
    let out = refused("owner", 409, "held", Some("not-owner"));
    out.assert_stderr_contains(
        "(refusal code not-owner): another user's challenge holds this token",
    );
    out.assert_stderr_contains("so run certbot again");
    lacks(&out, "ACME_CHALLENGE_TTL");
}

#[test]
fn a_400_coded_field_invalid_says_the_versions_disagree() {
    let out = refused("field", 400, "domain: not a name", Some("field-invalid"));
    out.assert_stderr_contains(
        "(refusal code field-invalid): the site and these hooks disagree on the request's form",
    );
}

#[test]
fn a_code_the_hooks_do_not_know_is_read_by_its_status_without_generic_causes() {
    let out = refused("unknown-403", 403, "the moon is full", Some("moon-phase"));
    out.assert_stderr_contains("403 Forbidden \"the moon is full\" (refusal code moon-phase)");
    lacks(&out, "lacks the permission");
    let out = refused("unknown-401", 401, "no", Some("moon-phase"));
    out.assert_stderr_contains(REGISTER_FIX);
    // Without a code and without words, a 403 lists its possible causes, each with its command.
    let out = refused("bare-403", 403, "", None);
    out.assert_stderr_contains("user 'certbot' lacks the permission to add challenges");
}
