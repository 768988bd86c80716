//! Random bytes, from one source, with one message when it fails.
//!
//! The bytes come from AWS-LC's `RAND_bytes`, which the crate already uses for key generation:
//! a DRBG seeded and reseeded from the operating system's entropy source (getrandom(2)); the
//! build leaves out AWS-LC's CPU-jitter source (`.cargo/config.toml`), so the OS is the only
//! seed. The `getrandom` crate is not in this build's dependency tree on Linux (`cargo tree -i
//! getrandom` prints nothing), so calling it would add a dependency for the same OS source.

use crate::error::Error;

/// `N` random bytes; `purpose` names what they are for in the error.
pub(crate) fn bytes<const N: usize>(purpose: &'static str) -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| Error::Random { purpose })?;
    Ok(bytes)
}

/// A random fraction in [0, 1) for backoff jitter; 0.5 if the generator fails, since jitter
/// only spreads retries and is no reason to fail a run.
pub(crate) fn fraction() -> f64 {
    match bytes::<4>("backoff jitter") {
        Ok(b) => f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_stay_in_the_unit_interval() {
        for _ in 0..100 {
            let j = fraction();
            assert!((0.0..1.0).contains(&j));
        }
    }

    #[test]
    fn two_draws_differ() {
        assert_ne!(
            bytes::<16>("a test").unwrap(),
            bytes::<16>("a test").unwrap()
        );
    }

    #[test]
    fn a_failure_names_its_purpose_not_signing() {
        let err = Error::Random {
            purpose: "the JWT's nonce",
        }
        .to_string();
        assert_eq!(
            err,
            "the system's random number generator failed (for the JWT's nonce): check that \
             /dev/urandom is readable and getrandom(2) is allowed (a seccomp filter?)"
        );
    }
}
