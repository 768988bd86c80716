//! A private key file turned into a [`Signer`], and new keys for `auth-hook keygen`.
//!
//! The key is the hooks' only credential: the site holds the public half, as in
//! `~/.ssh/authorized_keys`. We read the formats that exist in the field: PKCS#8 (RSA and Ed25519,
//! what `keygen` and Python's `cryptography` write) and PKCS#1 `BEGIN RSA PRIVATE KEY` (what
//! OpenSSL's `genrsa -traditional` and the older certbot-django plugin wrote). Parsing is a pure
//! function of the file's bytes ([`Signer::from_pem`]) so it can be fuzzed; file access, the
//! permission check and key creation sit on top of it. Nothing here ever formats key material.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};

use crate::error::{Error, KeyError};
use crate::files::{self, FileProblem, MAX_KEY_FILE};

/// DER of the `id-ecPublicKey` OID (1.2.840.10045.2.1), to name EC keys in PKCS#8.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// The two key types asymmetric-jwt-auth accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// Ed25519, signs EdDSA JWTs. Needs asymmetric-jwt-auth 1.0 or later on the site.
    Ed25519,
    /// RSA, signs RS512 JWTs. For sites with an older asymmetric-jwt-auth.
    Rsa,
}

impl KeyType {
    /// Both types, in the order help texts list them.
    pub const ALL: [KeyType; 2] = [KeyType::Ed25519, KeyType::Rsa];

    /// The type as `--key-type` spells it.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa => "rsa",
        }
    }

    /// One line on the type, for help texts.
    pub fn help(self) -> &'static str {
        match self {
            KeyType::Ed25519 => {
                "Ed25519, signs EdDSA JWTs. Needs asymmetric-jwt-auth 1.0 or later on the site"
            }
            KeyType::Rsa => "RSA, signs RS512 JWTs. For sites with an older asymmetric-jwt-auth",
        }
    }
}

impl std::str::FromStr for KeyType {
    type Err = String;

    /// Parses [`KeyType::name`]'s spelling.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| format!("{} is not ed25519 or rsa", crate::text::echo(text)))
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::Ed25519 => "Ed25519",
            KeyType::Rsa => "RSA",
        })
    }
}

/// A loaded private key, ready to sign JWTs. Its `Debug` shows only the type and `kid`.
pub struct Signer {
    key_type: KeyType,
    encoding_key: jsonwebtoken::EncodingKey,
    public_pem: String,
    kid: String,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("key_type", &self.key_type)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Parses a PEM private key (PKCS#8 RSA or Ed25519, or PKCS#1 RSA).
    pub fn from_pem(input: &[u8]) -> Result<Self, KeyError> {
        let blocks = pem::parse_many(input).map_err(|_| KeyError::NotPem)?;
        if blocks.is_empty() {
            return Err(KeyError::NotPem);
        }
        let mut saw_public = false;
        for block in &blocks {
            match block.tag() {
                "PRIVATE KEY" => return Self::from_pkcs8(block.contents()),
                "RSA PRIVATE KEY" => {
                    if block
                        .headers()
                        .get("Proc-Type")
                        .is_some_and(|v| v.contains("ENCRYPTED"))
                    {
                        return Err(KeyError::Encrypted);
                    }
                    return Self::from_pkcs1(block.contents());
                }
                "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
                "EC PRIVATE KEY" => return Err(KeyError::Ec),
                "OPENSSH PRIVATE KEY" => return Err(KeyError::OpenSsh),
                "EC PARAMETERS" => {}
                "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => saw_public = true,
                other => return Err(KeyError::UnsupportedLabel(other.chars().take(40).collect())),
            }
        }
        Err(if saw_public {
            KeyError::PublicKeyOnly
        } else {
            KeyError::NotPem
        })
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8(der) {
            let spki = spki_der(pair.public_key().as_der())?;
            return Ok(Self::new(
                KeyType::Ed25519,
                jsonwebtoken::EncodingKey::from_ed_der(der),
                &spki,
            ));
        }
        let (algorithm_oid, private_key) = pkcs8_parts(der).ok_or(KeyError::Malformed)?;
        if algorithm_oid == OID_EC_PUBLIC_KEY {
            return Err(KeyError::Ec);
        }
        match aws_lc_rs::rsa::KeyPair::from_pkcs8(der) {
            // The PKCS#8 payload of an RSA key is its PKCS#1 RSAPrivateKey, the form
            // jsonwebtoken's RSA signer takes.
            Ok(pair) => {
                let spki = spki_der(pair.public_key().as_der())?;
                Ok(Self::new(
                    KeyType::Rsa,
                    jsonwebtoken::EncodingKey::from_rsa_der(private_key),
                    &spki,
                ))
            }
            Err(e) if algorithm_oid == OID_RSA_ENCRYPTION => Err(KeyError::BadRsa(e.to_string())),
            Err(_) => Err(KeyError::UnsupportedAlgorithm),
        }
    }

    fn from_pkcs1(der: &[u8]) -> Result<Self, KeyError> {
        let pair =
            aws_lc_rs::rsa::KeyPair::from_der(der).map_err(|e| KeyError::BadRsa(e.to_string()))?;
        let spki = spki_der(pair.public_key().as_der())?;
        Ok(Self::new(
            KeyType::Rsa,
            jsonwebtoken::EncodingKey::from_rsa_der(der),
            &spki,
        ))
    }

    fn new(key_type: KeyType, encoding_key: jsonwebtoken::EncodingKey, spki: &[u8]) -> Self {
        let public_pem = python_public_pem(spki);
        let kid = hex(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, public_pem.as_bytes()).as_ref(),
        );
        Signer {
            key_type,
            encoding_key,
            public_pem,
            kid,
        }
    }

    /// Ed25519 or RSA.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The JWT algorithm asymmetric-jwt-auth expects for this key type.
    pub fn algorithm(&self) -> jsonwebtoken::Algorithm {
        match self.key_type {
            KeyType::Ed25519 => jsonwebtoken::Algorithm::EdDSA,
            KeyType::Rsa => jsonwebtoken::Algorithm::RS512,
        }
    }

    /// The public key as SubjectPublicKeyInfo PEM, byte for byte as Python's `cryptography`
    /// writes it; this is what gets registered on the site.
    pub fn public_key_pem(&self) -> &str {
        &self.public_pem
    }

    /// The JWT `kid`: hex SHA-256 of [`Self::public_key_pem`], asymmetric-jwt-auth's
    /// `PublicKey.fingerprint`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn encoding_key(&self) -> &jsonwebtoken::EncodingKey {
        &self.encoding_key
    }
}

/// DER of the `rsaEncryption` OID (1.2.840.113549.1.1.1).
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

fn spki_der(
    der: Result<PublicKeyX509Der<'static>, aws_lc_rs::error::Unspecified>,
) -> Result<Vec<u8>, KeyError> {
    der.map(|d| d.as_ref().to_vec())
        .map_err(|_| KeyError::Malformed)
}

/// PEM exactly as `cryptography`'s `public_bytes(PEM, SubjectPublicKeyInfo)`: LF line ends,
/// 64-character base64 lines, a final newline. The `kid` is a hash of these bytes, so this must
/// not drift.
fn python_public_pem(spki: &[u8]) -> String {
    let block = pem::Pem::new("PUBLIC KEY", spki.to_vec());
    pem::encode_config(
        &block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One DER element: (tag, contents, rest). Only definite lengths up to 4 bytes, as DER allows.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The algorithm OID and the private key octets of a PKCS#8 `PrivateKeyInfo` (RFC 5208).
fn pkcs8_parts(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (0x30, info, _) = der_element(der)? else {
        return None;
    };
    let (0x02, _version, rest) = der_element(info)? else {
        return None;
    };
    let (0x30, algorithm, rest) = der_element(rest)? else {
        return None;
    };
    let (0x06, oid, _) = der_element(algorithm)? else {
        return None;
    };
    let (0x04, private_key, _) = der_element(rest)? else {
        return None;
    };
    Some((oid, private_key))
}

/// Loads the private key at `path`, refusing one that group or others may read or write, and
/// anything but a regular file.
///
/// The file is opened without blocking (a FIFO would otherwise hang the hook past --timeout),
/// and its type and mode are checked on the opened descriptor, so a swapped symlink or a
/// replaced file between the check and the read cannot slip through.
pub fn load_key_file(path: &Path) -> Result<Signer, Error> {
    let key_error = |problem: String| Error::Key {
        path: path.to_path_buf(),
        problem,
    };
    let (mut file, meta) = files::open_regular(path).map_err(|p| {
        key_error(match p {
            FileProblem::NotFound => "it does not exist: pass --key-file (or --key-directory), or \
                                      create a key with 'auth-hook keygen --key-file PATH'"
                .to_string(),
            FileProblem::PermissionDenied => {
                "permission denied: run the hook as the user that owns the key".to_string()
            }
            other => other.describe("the private key file"),
        })
    })?;
    // OpenSSH's rule (sshkey_perm_ok): no permission bits at all for group and others.
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Error::KeyPermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let bytes =
        files::read_capped(&mut file, MAX_KEY_FILE).map_err(|p| key_error(p.describe("a key")))?;
    Signer::from_pem(&bytes).map_err(|source| Error::KeyContents {
        path: path.to_path_buf(),
        source,
    })
}

/// A freshly generated key: the PKCS#8 PEM to store, and its signer.
pub struct GeneratedKey {
    /// PKCS#8 `BEGIN PRIVATE KEY` PEM. Write it with [`write_new_key_file`]; never print it.
    pub private_pem: String,
    /// The signer for the same key.
    pub signer: Signer,
}

/// Generates a key with AWS-LC. `rsa_bits` matters only for RSA and must be 2048, 3072, 4096 or 8192.
pub fn generate_key(key_type: KeyType, rsa_bits: u32) -> Result<GeneratedKey, Error> {
    let failed = |what: &str| Error::KeyGeneration(what.to_string());
    let pkcs8: Vec<u8> = match key_type {
        KeyType::Ed25519 => {
            let pair =
                Ed25519KeyPair::generate().map_err(|_| failed("Ed25519 key generation failed"))?;
            let der: Pkcs8V1Der<'static> = pair
                .as_der()
                .map_err(|_| failed("Ed25519 key encoding failed"))?;
            der.as_ref().to_vec()
        }
        KeyType::Rsa => {
            let size = match rsa_bits {
                2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
                3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
                4096 => aws_lc_rs::rsa::KeySize::Rsa4096,
                8192 => aws_lc_rs::rsa::KeySize::Rsa8192,
                other => {
                    return Err(Error::KeyGeneration(format!(
                        "--rsa-bits {other} is not supported: use 2048, 3072, 4096 or 8192"
                    )));
                }
            };
            let pair = aws_lc_rs::rsa::KeyPair::generate(size)
                .map_err(|_| failed("RSA key generation failed"))?;
            let der: Pkcs8V1Der<'static> = pair
                .as_der()
                .map_err(|_| failed("RSA key encoding failed"))?;
            der.as_ref().to_vec()
        }
    };
    let block = pem::Pem::new("PRIVATE KEY", pkcs8);
    let private_pem = pem::encode_config(
        &block,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    );
    let signer = Signer::from_pem(private_pem.as_bytes())
        .map_err(|e| Error::KeyGeneration(format!("the new key does not load back: {e}")))?;
    Ok(GeneratedKey {
        private_pem,
        signer,
    })
}

/// Writes a new private key file with mode 0600. Refuses to replace an existing file.
pub fn write_new_key_file(path: &Path, private_pem: &str) -> Result<(), Error> {
    let write_error = |problem: String| Error::KeyWrite {
        path: path.to_path_buf(),
        problem,
    };
    // create_new is O_CREAT|O_EXCL: no overwrite, and no following a planted symlink.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            write_error(match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    "it already exists, and keygen never overwrites a key: choose another path, or \
                     remove the old key if it is no longer registered anywhere"
                        .to_string()
                }
                _ => format!("cannot create it: {e}"),
            })
        })?;
    file.write_all(private_pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| write_error(format!("cannot write it: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::tests::temp_dir;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_generated_ed25519_key_loads_back_with_the_same_kid() {
        let key = generate_key(KeyType::Ed25519, 0).unwrap();
        assert!(key.private_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = Signer::from_pem(key.private_pem.as_bytes()).unwrap();
        assert_eq!(again.kid(), key.signer.kid());
        assert_eq!(again.algorithm(), jsonwebtoken::Algorithm::EdDSA);
        assert_eq!(key.signer.kid().len(), 64);
    }

    #[test]
    fn a_generated_rsa_key_signs_rs512() {
        let key = generate_key(KeyType::Rsa, 2048).unwrap();
        assert_eq!(key.signer.algorithm(), jsonwebtoken::Algorithm::RS512);
        assert_eq!(key.signer.key_type(), KeyType::Rsa);
    }

    #[test]
    fn unsupported_rsa_sizes_are_refused() {
        let err = generate_key(KeyType::Rsa, 1024).err().unwrap().to_string();
        assert!(err.contains("2048, 3072, 4096 or 8192"), "{err}");
    }

    #[test]
    fn the_public_pem_has_python_cryptography_layout() {
        let key = generate_key(KeyType::Rsa, 2048).unwrap();
        let pem = key.signer.public_key_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(pem.ends_with("\n-----END PUBLIC KEY-----\n"));
        assert!(!pem.contains('\r'));
        let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(body[..body.len() - 1].iter().all(|l| l.len() == 64));
    }

    #[test]
    fn the_debug_output_never_shows_key_material() {
        let key = generate_key(KeyType::Ed25519, 0).unwrap();
        let shown = format!("{:?}", key.signer);
        assert!(shown.contains("Ed25519") && shown.contains(key.signer.kid()));
        assert!(!shown.contains("encoding_key"));
    }

    #[test]
    fn non_keys_are_named() {
        assert_eq!(Signer::from_pem(b"hello").unwrap_err(), KeyError::NotPem);
        assert_eq!(Signer::from_pem(b"").unwrap_err(), KeyError::NotPem);
        let ec = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        assert_eq!(Signer::from_pem(ec.as_bytes()).unwrap_err(), KeyError::Ec);
        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert_eq!(
            Signer::from_pem(enc.as_bytes()).unwrap_err(),
            KeyError::Encrypted
        );
        let ssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        assert_eq!(
            Signer::from_pem(ssh.as_bytes()).unwrap_err(),
            KeyError::OpenSsh
        );
        let key = generate_key(KeyType::Ed25519, 0).unwrap();
        assert_eq!(
            Signer::from_pem(key.signer.public_key_pem().as_bytes()).unwrap_err(),
            KeyError::PublicKeyOnly
        );
        let junk = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            Signer::from_pem(junk.as_bytes()).unwrap_err(),
            KeyError::Malformed
        );
    }

    #[test]
    fn legacy_encrypted_pkcs1_keys_are_named() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(
            Signer::from_pem(pem.as_bytes()).unwrap_err(),
            KeyError::Encrypted
        );
    }

    #[test]
    fn pkcs8_ec_keys_are_named() {
        // PrivateKeyInfo { 0, { id-ecPublicKey, prime256v1 }, OCTET STRING {} }: enough to be
        // recognised as EC before any curve math.
        let der: &[u8] = &[
            0x30, 0x1a, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
            0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x00,
        ];
        let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.to_vec()));
        assert_eq!(Signer::from_pem(pem.as_bytes()).unwrap_err(), KeyError::Ec);
    }

    #[test]
    fn every_truncation_of_a_key_is_refused_and_only_the_whole_key_loads() {
        let key = generate_key(KeyType::Ed25519, 0).unwrap();
        let der = pem::parse(&key.private_pem).unwrap().into_contents();
        assert!(pkcs8_parts(&der).is_some());
        assert_eq!(Signer::from_pkcs8(&der).unwrap().kid(), key.signer.kid());
        for cut in 0..der.len() {
            assert_eq!(pkcs8_parts(&der[..cut]), None, "cut at {cut}");
            assert_eq!(
                Signer::from_pkcs8(&der[..cut]).unwrap_err(),
                KeyError::Malformed,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn keygen_writes_mode_0600_and_never_overwrites() {
        let tmp = temp_dir("write");
        let dir = tmp.path();
        let path = dir.join("key.pem");
        let key = generate_key(KeyType::Ed25519, 0).unwrap();
        write_new_key_file(&path, &key.private_pem).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let err = write_new_key_file(&path, "other").unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), key.private_pem);
        assert_eq!(load_key_file(&path).unwrap().kid(), key.signer.kid());
    }

    #[test]
    fn group_or_world_accessible_keys_are_refused_with_chmod_advice() {
        let tmp = temp_dir("mode");
        let dir = tmp.path();
        let path = dir.join("key.pem");
        let key = generate_key(KeyType::Ed25519, 0).unwrap();
        write_new_key_file(&path, &key.private_pem).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o610] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = load_key_file(&path).unwrap_err().to_string();
            assert!(err.contains(&format!("{mode:04o}")), "{err}");
            assert!(
                err.contains(&format!("chmod 600 {}", path.display())),
                "{err}"
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        load_key_file(&path).unwrap();
    }

    #[test]
    fn a_missing_key_names_the_path_and_keygen() {
        let err = load_key_file(Path::new("/nonexistent/key.pem"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/key.pem") && err.contains("keygen"),
            "{err}"
        );
    }

    #[test]
    fn openssl_traditional_pkcs1_keys_load() {
        let tmp = temp_dir("pkcs1");
        let dir = tmp.path();
        let path = dir.join("legacy.pem");
        let status = std::process::Command::new("openssl")
            .args(["genrsa", "-traditional", "-out"])
            .arg(&path)
            .arg("2048")
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl must be installed to run this test");
        assert!(status.success());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let signer = load_key_file(&path).unwrap();
        assert_eq!(signer.key_type(), KeyType::Rsa);
        // The same key as PKCS#8 has the same kid.
        let out = std::process::Command::new("openssl")
            .args(["pkey", "-in"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(Signer::from_pem(&out.stdout).unwrap().kid(), signer.kid());
    }
}
