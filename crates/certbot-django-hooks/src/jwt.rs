//! The JWT that authenticates each API request, in asymmetric_jwt_auth's format.
//!
//! The server (asymmetric_jwt_auth 1.3) reads the `kid` header to find the public key, checks the
//! signature with the algorithm that key allows (EdDSA for Ed25519, RS512 first for RSA), requires
//! `username`, an integer `time` within ±20 s of its clock, and a `nonce` it has not seen for
//! that user and second. A nonce is single use, so every request, retries included, gets a new
//! token from [`fresh_token`].

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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

#[derive(Serialize)]
struct Claims<'a> {
    username: &'a str,
    time: u64,
    nonce: &'a str,
}

/// Signs a token with an explicit `time` and `nonce`, so tests can pin the claims.
pub fn sign(signer: &Signer, username: &str, time: u64, nonce: &str) -> Result<Jwt, Error> {
    let mut header = jsonwebtoken::Header::new(signer.algorithm());
    header.kid = Some(signer.kid().to_string());
    let claims = Claims {
        username,
        time,
        nonce,
    };
    jsonwebtoken::encode(&header, &claims, signer.encoding_key())
        .map(Jwt)
        .map_err(|e| Error::Signing(e.to_string()))
}

/// A new token for one request: the current time and a fresh random nonce.
pub fn fresh_token(signer: &Signer, username: &str) -> Result<Jwt, Error> {
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| Error::Signing("the system clock is before 1970".to_string()))?
        .as_secs();
    sign(signer, username, time, &new_nonce()?)
}

/// 192 random bits, base64url without padding (32 characters).
///
/// The bytes come from AWS-LC's `RAND_bytes`, which the crate already uses for key generation:
/// a DRBG seeded and reseeded from the operating system's entropy source (getrandom(2)); the
/// build leaves out AWS-LC's CPU-jitter source (`.cargo/config.toml`), so the OS is the only
/// seed. The `getrandom` crate is not in this build's dependency tree on Linux (`cargo tree -i
/// getrandom` prints nothing), so calling it would add a dependency for the same OS source.
pub fn new_nonce() -> Result<String, Error> {
    let mut bytes = [0u8; NONCE_BYTES];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| Error::Signing("the random number generator failed".to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{KeyType, generate_key};

    fn decode_part(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn ed25519_tokens_carry_eddsa_kid_and_integer_time() {
        let key = generate_key(KeyType::Ed25519, 0).unwrap();
        let jwt = sign(&key.signer, "certbot", 1_700_000_000, "abc").unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode_part(parts[0]);
        assert_eq!(header["alg"], "EdDSA");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], key.signer.kid());
        let claims = decode_part(parts[1]);
        assert_eq!(
            claims,
            serde_json::json!({"username": "certbot", "time": 1_700_000_000, "nonce": "abc"})
        );
        assert!(claims["time"].is_u64());
    }

    #[test]
    fn rsa_tokens_use_rs512() {
        let key = generate_key(KeyType::Rsa, 2048).unwrap();
        let jwt = sign(&key.signer, "certbot", 1, "n").unwrap();
        let header = decode_part(jwt.expose().split('.').next().unwrap());
        assert_eq!(header["alg"], "RS512");
    }

    #[test]
    fn every_fresh_token_has_a_new_nonce() {
        let key = generate_key(KeyType::Ed25519, 0).unwrap();
        let a = fresh_token(&key.signer, "u").unwrap();
        let b = fresh_token(&key.signer, "u").unwrap();
        assert_ne!(a.expose(), b.expose());
        let nonce = new_nonce().unwrap();
        assert_eq!(nonce.len(), 32);
        assert_eq!(URL_SAFE_NO_PAD.decode(&nonce).unwrap().len() * 8, 192);
    }

    #[test]
    fn tokens_never_format_their_text() {
        let key = generate_key(KeyType::Ed25519, 0).unwrap();
        let jwt = fresh_token(&key.signer, "u").unwrap();
        assert!(!format!("{jwt} {jwt:?}").contains("eyJ"));
    }
}
