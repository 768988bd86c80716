//! The JWT that authenticates each API request, in asymmetric_jwt_auth's format, bound to that
//! one request.
//!
//! The server (asymmetric_jwt_auth 1.3) reads the `kid` header to find the public key, checks the
//! signature with the algorithm that key allows (EdDSA for Ed25519, RS512 first for RSA), requires
//! `username`, an integer `time` within ±20 s of its clock, and a `nonce` it has not seen for
//! that user and second. A nonce is single use, so every request, retries included, gets a new
//! token from [`fresh_token`].
//!
//! Every token also names the request it was made for ([`RequestBinding`]), as DPoP proofs do
//! (RFC 9449): `htm` the method, `htu` the URL without query or fragment, and `bsh` the
//! base64url SHA-256 of the exact body bytes. The site refuses a token whose claims do not match
//! the request it came with, so a token that leaks (to a wrong `--server`, a proxy, a log) cannot
//! be replayed against another site, another URL or with another challenge in the body. No
//! registered claim names (`aud`, `iss`, `exp`, `nbf`, `iat`): older verifiers (the original
//! certbot-django server's asymmetric-jwt-auth 1.0) would check them and refuse the token.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Url;
use serde::Serialize;

use crate::error::Error;
use crate::key::Signer;

/// Nonce size: 192 bits, above the 128 the design asks for.
const NONCE_BYTES: usize = 24;

/// A signed token. `Debug` and `Display` are redacted so it cannot end up in a log by accident;
/// only the API client reads it, through [`Jwt::expose`].
pub struct Jwt(String);

impl Jwt {
    /// The token text. Only for the `Authorization` header: never print or log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Jwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Jwt(<redacted>)")
    }
}

impl fmt::Display for Jwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted JWT>")
    }
}

/// The request a token is good for: the `htm`, `htu` and `bsh` claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestBinding {
    method: String,
    url: String,
    body_sha256: String,
}

impl RequestBinding {
    /// Binds to `method` (upper case, as sent) on `url` (query and fragment dropped, as the site
    /// compares only host and path) with exactly these body bytes (empty for none).
    pub fn new(method: &str, url: &Url, body: &[u8]) -> Self {
        let mut url = url.clone();
        url.set_query(None);
        url.set_fragment(None);
        RequestBinding {
            method: method.to_ascii_uppercase(),
            url: url.to_string(),
            body_sha256: body_hash(body),
        }
    }

    /// `htm`: the method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// `htu`: the URL, without query or fragment.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `bsh`: base64url (no padding) of the SHA-256 of the body.
    pub fn body_sha256(&self) -> &str {
        &self.body_sha256
    }
}

/// base64url without padding of the SHA-256 of `body`: the `bsh` claim. SHA-256 comes from
/// AWS-LC, the crypto backend the hooks already carry.
pub fn body_hash(body: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body))
}

#[derive(Serialize)]
struct Claims<'a> {
    username: &'a str,
    time: u64,
    nonce: &'a str,
    htm: &'a str,
    htu: &'a str,
    bsh: &'a str,
}

/// Signs a token with an explicit `time` and `nonce`, so tests can pin the claims.
pub fn sign(
    signer: &Signer,
    username: &str,
    time: u64,
    nonce: &str,
    binding: &RequestBinding,
) -> Result<Jwt, Error> {
    let mut header = jsonwebtoken::Header::new(signer.algorithm());
    header.kid = Some(signer.kid().to_string());
    let claims = Claims {
        username,
        time,
        nonce,
        htm: &binding.method,
        htu: &binding.url,
        bsh: &binding.body_sha256,
    };
    jsonwebtoken::encode(&header, &claims, signer.encoding_key())
        .map(Jwt)
        .map_err(|e| Error::Signing(e.to_string()))
}

/// A new token for one request: the current time, a fresh random nonce, and the request.
pub fn fresh_token(
    signer: &Signer,
    username: &str,
    binding: &RequestBinding,
) -> Result<Jwt, Error> {
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::Signing("the system clock is before 1970".to_string()))?
        .as_secs();
    sign(signer, username, time, &new_nonce()?, binding)
}

/// 192 random bits ([`crate::random`]), base64url without padding (32 characters).
pub fn new_nonce() -> Result<String, Error> {
    let bytes = crate::random::bytes::<NONCE_BYTES>("the JWT's nonce")?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{KeyType, generate_key};

    fn decode_part(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    fn post() -> RequestBinding {
        let url = Url::parse("https://example.com/.well-known/challenges/").unwrap();
        RequestBinding::new("POST", &url, b"challenge=t&response=t.x&domain=example.com")
    }

    #[test]
    fn ed25519_tokens_carry_eddsa_kid_integer_time_and_the_request() {
        let key = generate_key(KeyType::Ed25519, 0).unwrap();
        let jwt = sign(&key.signer, "certbot", 1_700_000_000, "abc", &post()).unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode_part(parts[0]);
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], key.signer.kid());
        let claims = decode_part(parts[1]);
        assert_eq!(
            claims,
            serde_json::json!({
                "username": "certbot",
                "time": 1_700_000_000,
                "nonce": "abc",
                "htm": "POST",
                "htu": "https://example.com/.well-known/challenges/",
                "bsh": body_hash(b"challenge=t&response=t.x&domain=example.com"),
            })
        );
        assert!(claims["time"].is_u64());
    }

    #[test]
    fn the_body_hash_is_unpadded_base64url_sha256() {
        // The contract's value for an empty body (a DELETE), and FIPS 180-2's "abc" vector.
        assert_eq!(
            body_hash(b""),
            "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
        assert_eq!(
            body_hash(b"abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
    }

    #[test]
    fn the_bound_url_drops_query_and_fragment_and_the_method_is_upper_case() {
        let url = Url::parse("https://Example.COM:8443/a/b/?x=1#frag").unwrap();
        let binding = RequestBinding::new("delete", &url, b"");
        assert_eq!(binding.method(), "DELETE");
        assert_eq!(binding.url(), "https://example.com:8443/a/b/");
        assert_eq!(binding.body_sha256(), body_hash(b""));
    }

    #[test]
    fn no_registered_claim_names_that_older_verifiers_check() {
        let key = generate_key(KeyType::Ed25519, 0).unwrap();
        let jwt = fresh_token(&key.signer, "u", &post()).unwrap();
        let claims = decode_part(jwt.expose().split('.').nth(1).unwrap());
        for registered in ["aud", "iss", "exp", "nbf", "iat", "sub", "jti"] {
            assert!(claims.get(registered).is_none(), "{registered}: {claims}");
        }
    }

    #[test]
    fn rsa_tokens_use_rs512() {
        let key = generate_key(KeyType::Rsa, 2048).unwrap();
        let jwt = sign(&key.signer, "certbot", 1, "n", &post()).unwrap();
        let header = decode_part(jwt.expose().split('.').next().unwrap());
        assert_eq!(header["alg"], "RS512");
    }

    #[test]
    fn every_fresh_token_has_a_new_nonce() {
        let key = generate_key(KeyType::Ed25519, 0).unwrap();
        let a = fresh_token(&key.signer, "u", &post()).unwrap();
        let b = fresh_token(&key.signer, "u", &post()).unwrap();
        assert_ne!(a.expose(), b.expose());
        let nonce = new_nonce().unwrap();
        assert_eq!(nonce.len(), 32);
        assert_eq!(URL_SAFE_NO_PAD.decode(&nonce).unwrap().len() * 8, 192);
    }

    #[test]
    fn tokens_never_format_their_text() {
        let key = generate_key(KeyType::Ed25519, 0).unwrap();
        let jwt = fresh_token(&key.signer, "u", &post()).unwrap();
        assert!(!format!("{jwt} {jwt:?}").contains("eyJ"));
    }
}
