//! Keys through the built binary: refused files (mode, missing, encrypted, EC) with nothing
//! sent, and `keygen`.

use std::os::unix::fs::PermissionsExt;

use hook_test_support::{Serving, fake_site, key_command, keyed_dir, run, run_hook, temp_dir};

const BIN: &str = env!("CARGO_BIN_EXE_auth-hook");

#[test]
fn keys_readable_by_group_or_others_are_refused_with_chmod_advice() {
    let (_dir, key) = keyed_dir("keymode");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    for mode in [0o644, 0o640] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        let out = run_hook(BIN, site.port(), &key, 5, &[]);
        out.assert_failure();
        assert_eq!(
            out.stderr,
            format!(
                "auth-hook: error: private key {path} is accessible by group or others (mode {mode:04o}), so it \
                 is refused, as OpenSSH refuses such keys: run 'chmod 600 {path}'\n",
                path = key.display()
            )
        );
    }
    assert_eq!(site.count(), 0);
}

#[test]
fn a_missing_key_is_named_and_nothing_is_sent() {
    let dir = temp_dir("nokey");
    let missing = dir.join("absent.pem");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let out = run_hook(BIN, site.port(), &missing, 5, &[]);
    out.assert_failure();
    out.assert_stderr_contains(&format!(
        "auth-hook: error: private key {}: it does not exist",
        missing.display()
    ));
    out.assert_stderr_contains("auth-hook keygen --key-file PATH");
    assert_eq!(site.count(), 0);
}

#[test]
fn encrypted_and_ec_keys_are_named_and_nothing_is_sent() {
    let dir = temp_dir("badkeys");
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let cases: [(&str, &[&str], &str); 2] = [
        (
            "ec.pem",
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ],
            "it is an EC key",
        ),
        (
            "enc.pem",
            &[
                "genpkey",
                "-algorithm",
                "ED25519",
                "-aes-128-cbc",
                "-pass",
                "pass:secret",
            ],
            "it is encrypted with a passphrase",
        ),
    ];
    for (name, openssl_args, message) in cases {
        let path = dir.join(name);
        let status = std::process::Command::new("openssl")
            .args(openssl_args)
            .arg("-out")
            .arg(&path)
            .status()
            .expect("openssl is needed for this test");
        assert!(status.success());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out = run_hook(BIN, site.port(), &path, 5, &[]);
        out.assert_failure();
        out.assert_stderr_contains(&format!(
            "private key {} cannot be used\n  caused by: {message}",
            path.display()
        ));
    }
    assert_eq!(site.count(), 0);
}

#[test]
fn keygen_writes_a_0600_key_prints_the_public_key_and_how_to_register_it() {
    let dir = temp_dir("keygen");
    let path = dir.join("new.pem");
    let out = run(BIN, &key_command("keygen", &path), &[]);
    out.assert_success();
    assert!(
        out.stdout.starts_with("-----BEGIN PUBLIC KEY-----\n"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("PRIVATE"));
    out.assert_stderr_contains(
        "python manage.py certbot_client certbot --public-key-file certbot.pub",
    );
    out.assert_stderr_contains("/admin/asymmetric_jwt_auth/publickey/add/");
    assert!(!out.stderr.contains("PRIVATE KEY-----"));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let again = run(BIN, &key_command("public-key", &path), &[]);
    again.assert_success();
    assert_eq!(again.stdout, out.stdout);

    let before = std::fs::read(&path).unwrap();
    let refused = run(BIN, &key_command("keygen", &path), &[]);
    refused.assert_failure();
    refused.assert_stderr_contains("already exists, and keygen never overwrites a key");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn keygen_makes_rsa_keys_on_request() {
    let dir = temp_dir("keygenrsa");
    let path = dir.join("rsa.pem");
    let args: Vec<String> = [
        "keygen",
        "--key-type",
        "rsa",
        "--rsa-bits",
        "2048",
        "--key-file",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([path.display().to_string()])
    .collect();
    run(BIN, &args, &[]).assert_success();
    let key = certbot_django_hooks::load_key_file(&path).unwrap();
    assert_eq!(key.key_type(), certbot_django_hooks::KeyType::Rsa);
}
