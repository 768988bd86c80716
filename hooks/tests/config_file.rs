//! The config file through the built binary: it supplies settings, and a bad value names the
//! file and the key.

use hook_test_support::{Serving, certbot_env, fake_site, key_file, run, temp_dir};

const BIN: &str = env!("CARGO_BIN_EXE_auth-hook");

#[test]
fn a_config_file_supplies_settings_and_a_bad_value_names_file_and_key() {
    let dir = temp_dir("config");
    // key.pem in the same directory, named relatively by the config file.
    let _key = key_file(&dir);
    let site = fake_site(Serving::AtOnce, |_, _| None);
    let config = dir.join("hooks.toml");
    std::fs::write(
        &config,
        format!(
            "server = \"http://{{domain}}:{port}\"\nself_check_url = \"http://{{domain}}:{port}/.well-known/acme-challenge/{{token}}\"\nkey_file = \"key.pem\"\nresolve = [\"*:127.0.0.1\"]\ntimeout = 5\n",
            port = site.port()
        ),
    )
    .unwrap();
    let out = run(
        BIN,
        &["--config".into(), config.display().to_string()],
        &certbot_env(),
    );
    out.assert_success();

    // The same through the environment variable.
    let config_str = config.display().to_string();
    let mut env = certbot_env();
    env.push(("CERTBOT_DJANGO_CONFIG", &config_str));
    run(BIN, &[], &env).assert_success();

    std::fs::write(&config, "timeout = 99999\n").unwrap();
    let out = run(
        BIN,
        &["--config".into(), config.display().to_string()],
        &certbot_env(),
    );
    out.assert_failure();
    assert_eq!(
        out.stderr,
        format!(
            "auth-hook: error: config file {}, key 'timeout': 99999 seconds is out of range: use 1 to 3600\n",
            config.display()
        )
    );
}
