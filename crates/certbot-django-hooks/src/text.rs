//! Text from outside made safe for a message: response bodies, headers and `Location`s become
//! one line without control characters or anything shaped like a JWT, and error chains become
//! one line.
//!
//! Hostile values (a token, a template) are quoted with [`echo`]; values kept as data (an
//! issuer, a lineage name) are cleaned with [`plain_value`]; all of it starts with one cleaning
//! step ([`collapse`]).
//!
//! Everything here ends up in certbot's log, so a server or proxy that echoes the
//! `Authorization` header must not be able to put a token there, and a hostile body must not be
//! able to forge log lines or move the cursor.

use reqwest::header::HeaderMap;

/// Longest value [`echo`] shows.
const MAX_ECHO: usize = 64;

/// Quotes a hostile value for an error message: escaped, and shortened to 64 characters.
pub(crate) fn echo(value: &str) -> String {
    let mut shown: String = value.chars().take(MAX_ECHO).collect();
    let more = value.chars().count() - shown.chars().count();
    shown = format!("\"{}\"", shown.escape_debug());
    if more > 0 {
        shown.push_str(&format!(" (and {more} more characters)"));
    }
    shown
}

/// The first step of every cleaning here: control characters (which could forge a log line or
/// move the cursor) become spaces, and runs of whitespace one space, without leading or
/// trailing whitespace.
fn collapse(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A value from outside that is kept or sent as data (a certificate's issuer, a lineage name,
/// `CERTBOT_ALL_DOMAINS`): [`collapse`]d and cut at `max` characters, without a marker, since
/// it is stored rather than only shown.
pub fn plain_value(text: &str, max: usize) -> String {
    collapse(text).chars().take(max).collect()
}

/// Most lines [`report_lines`] keeps, and most characters per line.
const MAX_REPORT_LINES: usize = 8;
const MAX_REPORT_LINE: usize = 200;

/// A parser's multi-line report (the TOML parser's caret drawing under the offending line),
/// kept on its lines: in each, control characters become spaces (one for one, so the carets
/// stay under what they point at) and anything shaped like a JWT is removed; trailing
/// whitespace goes; at most 8 lines of 200 characters.
pub fn report_lines(text: &str) -> String {
    text.lines()
        .take(MAX_REPORT_LINES)
        .map(|line| {
            let cleaned: String = line
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(MAX_REPORT_LINE)
                .collect();
            redact_jwts(cleaned.trim_end(), &[])
        })
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

/// A body as a quoted line of plain text for a message: control characters replaced,
/// whitespace collapsed, JWTs removed, at most `max` characters. An HTML page is reduced to its
/// `<title>`. Empty for an empty body.
pub fn body_excerpt(body: &[u8], headers: &HeaderMap, max: usize) -> String {
    body_excerpt_hiding(body, headers, max, &[])
}

/// [`body_excerpt`] that also removes each of `secrets` (the request's own JWT): see
/// [`one_line_hiding`].
pub fn body_excerpt_hiding(
    body: &[u8],
    headers: &HeaderMap,
    max: usize,
    secrets: &[&str],
) -> String {
    let text = String::from_utf8_lossy(body);
    let is_html = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/html"));
    if is_html {
        let lower = text.to_ascii_lowercase();
        return match (lower.find("<title>"), lower.find("</title>")) {
            (Some(start), Some(end)) if end > start + 7 => {
                format!(
                    "(an HTML page titled \"{}\")",
                    one_line_hiding(&text[start + 7..end], max, secrets)
                )
            }
            _ => "(an HTML page)".to_string(),
        };
    }
    let line = one_line_hiding(&text, max, secrets);
    if line.is_empty() {
        line
    } else {
        format!("\"{line}\"")
    }
}

/// Replaces control characters with spaces, collapses runs of whitespace, removes anything
/// shaped like a JWT (see `redact_jwts`) and truncates.
pub fn one_line(text: &str, max: usize) -> String {
    one_line_hiding(text, max, &[])
}

/// The one way text from a response (a body, a `Location`, a header) becomes message text:
/// [`one_line`], also removing each of `secrets` and each of their dot-separated parts of 16
/// characters or more. The API client passes the request's own JWT, so a server that echoes the
/// `Authorization` header, whole or in part, cannot put it on stderr and into certbot's log.
pub fn one_line_hiding(text: &str, max: usize, secrets: &[&str]) -> String {
    let joined = redact_jwts(&collapse(text), secrets);
    if joined.chars().count() > max {
        let mut cut: String = joined.chars().take(max).collect();
        cut.push_str("...");
        cut
    } else {
        joined
    }
}

/// What replaces a JWT in text that is shown.
pub const JWT_REMOVED: &str = "[JWT removed]";

/// Shortest run starting with `eyJ` that counts as a JWT. The shortest JWT header,
/// `{"alg":"none"}`, is 19 characters of base64url, so this is generous.
const MIN_JWT_LIKE: usize = 12;

/// Removes every secret (and each dot-separated part of one that has 16 characters or more),
/// then anything shaped like a JWT, generously: a run of base64 or base64url characters, dots,
/// `=` and `%` that starts with `eyJ` (the base64url of `{"`, which begins every JWT header and
/// payload) and is at least 12 characters long, whatever its number of dots. Both are replaced
/// by [`JWT_REMOVED`].
pub fn redact_jwts(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_string();
    for secret in secrets {
        let parts = std::iter::once(*secret).chain(secret.split('.').filter(|p| p.len() >= 16));
        for part in parts {
            if !part.is_empty() && text.contains(part) {
                text = text.replace(part, JWT_REMOVED);
            }
        }
    }
    if !text.contains("eyJ") {
        return text;
    }
    let bytes = text.as_bytes();
    let in_token = |b: u8| {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/' | b'=' | b'.' | b'%')
    };
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while let Some(found) = text[i..].find("eyJ") {
        let start = i + found;
        let mut end = start;
        while end < bytes.len() && in_token(bytes[end]) {
            end += 1;
        }
        if end - start >= MIN_JWT_LIKE {
            out.push_str(&text[copied..start]);
            out.push_str(JWT_REMOVED);
            copied = end;
        }
        i = end.max(start + 3);
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn bodies_become_one_safe_line() {
        let headers = HeaderMap::new();
        let text = body_excerpt(b"line one\r\n\x1b[31mred\x07 \x00end", &headers, 100);
        assert_eq!(text, "\"line one [31mred end\"");
        assert_eq!(body_excerpt(b" \r\n", &headers, 100), "");
        assert_eq!(
            one_line(&"x".repeat(50), 10),
            format!("{}...", "x".repeat(10))
        );
        let mut html = HeaderMap::new();
        html.insert(
            "content-type",
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        let text = body_excerpt(
            b"<html><head><title>Server Error (500)</title>...",
            &html,
            100,
        );
        assert_eq!(text, "(an HTML page titled \"Server Error (500)\")");
    }

    /// A real JWT's shape: header and payload are base64url JSON, so both start with `eyJ`.
    const JWT: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFZERTQSIsImtpZCI6ImFiYyJ9.\
                       eyJ1c2VybmFtZSI6ImNlcnRib3QiLCJ0aW1lIjoxfQ.\
                       c2lnbmF0dXJlLW9mLXRoZS1yZXF1ZXN0LXNpZ25lZC1ieS10aGUta2V5";

    #[test]
    fn a_jwt_echoed_in_a_body_is_removed_from_the_message() {
        let body = format!("bad token: Authorization: JWT {JWT}\r\nbye");
        let shown = body_excerpt(body.as_bytes(), &HeaderMap::new(), 500);
        assert_eq!(shown, "\"bad token: Authorization: JWT [JWT removed] bye\"");
        let shown = body_excerpt_hiding(body.as_bytes(), &HeaderMap::new(), 500, &[JWT]);
        assert_eq!(shown, "\"bad token: Authorization: JWT [JWT removed] bye\"");
    }

    #[test]
    fn the_requests_own_jwt_is_removed_even_in_parts() {
        let signature = JWT.rsplit('.').next().unwrap();
        let shown = one_line_hiding(&format!("signature {signature} rejected"), 500, &[JWT]);
        assert_eq!(shown, "signature [JWT removed] rejected");
        // Without knowing the token, a lone signature is just text.
        assert!(one_line(signature, 500).contains(signature));
    }

    #[test]
    fn anything_shaped_like_a_jwt_is_removed_generously() {
        for (text, expected) in [
            (format!("x{JWT}y"), "x[JWT removed]"),
            (
                "token=eyJhbGciOiJub25lIn0.e30.".to_string(),
                "token=[JWT removed]",
            ),
            ("eyJhbGciOiJIUzI1NiJ9".to_string(), "[JWT removed]"),
            ("a eyJhbGciOi+/= b".to_string(), "a [JWT removed] b"),
            (
                format!("{JWT} and {JWT}"),
                "[JWT removed] and [JWT removed]",
            ),
            // Short runs and words are left alone.
            ("heyJude eyJa".to_string(), "heyJude eyJa"),
            ("no token here".to_string(), "no token here"),
        ] {
            assert_eq!(one_line(&text, 500), expected, "{text}");
        }
        // Removal comes before truncation, so a cut cannot leave half a token behind.
        let cut = one_line(&format!("{} {JWT}", "a".repeat(20)), 30);
        assert!(!cut.contains("eyJ") && cut.starts_with("aaaa"), "{cut}");
        // A title of an HTML page goes through the same sanitiser.
        let mut html = HeaderMap::new();
        html.insert("content-type", HeaderValue::from_static("text/html"));
        let page = format!("<title>denied {JWT}</title>");
        assert_eq!(
            body_excerpt(page.as_bytes(), &html, 100),
            "(an HTML page titled \"denied [JWT removed]\")"
        );
    }
}
