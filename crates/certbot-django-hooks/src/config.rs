//! Configuration: options, environment fallbacks and a TOML file merged into one validated
//! [`Settings`], built before anything else happens.
//!
//! certbot saves the hook command lines in its renewal config but not the environment, so
//! everything must be expressible as arguments or as a config file those arguments name.
//! Precedence per setting: option, then its `CERTBOT_DJANGO_*` variable (clap handles these two),
//! then the config file, then the default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::certbot_process::OnFailure;
use crate::challenge::{Challenge, Identifier};
use crate::error::Error;
use crate::files::{self, FileProblem, MAX_CONFIG_FILE};
use crate::output::Verbosity;
use crate::resolve::{Node, ResolveRule};
use crate::urls;

/// Default `--server`: the site being certified serves the API itself.
pub const DEFAULT_SERVER: &str = "https://{domain}";
/// Default `--username`: the user name the certbot-django plugin's docs set up.
pub const DEFAULT_USERNAME: &str = "certbot";
/// Default `--timeout` in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;
/// Longest `--timeout` accepted: an hour is already far beyond any sane run.
pub const MAX_TIMEOUT_SECS: u64 = 3600;
/// Default `--self-check-url`: the URL the CA fetches (RFC 8555 §8.3).
pub const DEFAULT_SELF_CHECK_URL: &str = "http://{domain}/.well-known/acme-challenge/{token}";
/// File name prefix of the older certbot-django plugin's keys in `--key-directory`.
pub const LEGACY_KEY_PREFIX: &str = "certbot_django_id_rsa_";

/// The config file's keys: the options' names in snake_case. Unknown keys are errors, so a typo
/// does not silently fall back to a default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `--server`
    pub server: Option<String>,
    /// `--username`
    pub username: Option<String>,
    /// `--key-file`
    pub key_file: Option<PathBuf>,
    /// `--key-directory`
    pub key_directory: Option<PathBuf>,
    /// `--ca-bundle`
    pub ca_bundle: Option<PathBuf>,
    /// `--timeout`
    pub timeout: Option<u64>,
    /// `--no-self-check` is `self_check = false`
    pub self_check: Option<bool>,
    /// `--self-check-url`
    pub self_check_url: Option<String>,
    /// `--resolve`, as a list
    pub resolve: Option<Vec<String>>,
    /// `--self-check-node`, as a list
    pub self_check_nodes: Option<Vec<String>>,
    /// `--on-failure`
    pub on_failure: Option<OnFailure>,
    /// `--no-batch` is `batch = false`
    pub batch: Option<bool>,
}

impl FileConfig {
    /// Parses config file text. Pure, for tests and fuzzing.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| crate::text::report_lines(&e.to_string()))
    }
}

/// Where the private key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `--key-file`.
    File(PathBuf),
    /// `--key-directory`, the older plugin's per-domain layout.
    Directory(PathBuf),
}

/// The settings as the command line gives them, before the config file and the defaults: each
/// `None` (or empty list) is "not given". The binaries fill it from their arguments and from the
/// `CERTBOT_DJANGO_*` variables each option falls back to; [`Settings::load`] layers the config
/// file and the defaults under it and validates the result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `--server`: base URL template of the site.
    pub server: Option<String>,
    /// `--username`: the Django user the key is registered to.
    pub username: Option<String>,
    /// `--key-file`: the private key.
    pub key_file: Option<PathBuf>,
    /// `--key-directory`: the older plugin's per-domain keys.
    pub key_directory: Option<PathBuf>,
    /// `--config`: the TOML file.
    pub config: Option<PathBuf>,
    /// `--ca-bundle`: extra trusted CAs.
    pub ca_bundle: Option<PathBuf>,
    /// `--timeout`, in seconds, still unchecked.
    pub timeout: Option<u64>,
    /// `--self-check-url`: the template polled after the push.
    pub self_check_url: Option<String>,
    /// `--resolve`, repeated, each still unparsed.
    pub resolve: Vec<String>,
    /// `--self-check-node`, repeated, each still unparsed.
    pub self_check_node: Vec<String>,
    /// `--no-self-check`.
    pub no_self_check: bool,
    /// `--on-failure`.
    pub on_failure: Option<OnFailure>,
    /// `--no-batch`.
    pub no_batch: bool,
    /// `-v` / `-q`.
    pub verbosity: Verbosity,
}

/// Validated settings for one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Base URL template, `{domain}` unreplaced, as given.
    pub server: String,
    /// Where `server` came from, for messages: `--server (or CERTBOT_DJANGO_SERVER)`, or
    /// `config file F, key 'server'`.
    pub server_origin: String,
    /// Django user name.
    pub username: String,
    /// Key file or legacy key directory.
    pub key: Option<KeySource>,
    /// Extra trusted CAs.
    pub ca_bundle: Option<PathBuf>,
    /// Deadline for the run.
    pub timeout: Duration,
    /// Whether the auth hook self-checks.
    pub self_check: bool,
    /// Self-check URL template, as given.
    pub self_check_url: String,
    /// Where `self_check_url` came from, for messages.
    pub self_check_url_origin: String,
    /// `--resolve` overrides.
    pub resolve: Vec<ResolveRule>,
    /// App servers the self-check fetches from directly.
    pub self_check_nodes: Vec<Node>,
    /// What the auth hook does when the validation is known to fail.
    pub on_failure: OnFailure,
    /// Whether the challenges of one certificate go in one request (certbot's auth hooks
    /// collected in the spool, dehydrated's `HOOK_CHAIN`), or one request each.
    pub batch: bool,
    /// stderr verbosity.
    pub verbosity: Verbosity,
    /// The config file used, if any.
    pub config_file: Option<PathBuf>,
}

/// One value and where it came from, for error messages.
struct Sourced<T> {
    value: T,
    origin: String,
    from_file: bool,
}

/// The layers a setting comes from, highest first: its option (the command line folds the option's
/// `CERTBOT_DJANGO_*` variable into it), the config file, the default. Each pick records where
/// the value came from, so an error names the option or the file and key.
struct Layers<'a> {
    config_path: Option<&'a Path>,
}

impl Layers<'_> {
    /// Where a config file key is.
    fn file_origin(&self, key: &str) -> String {
        match self.config_path {
            Some(path) => format!("config file {}, key '{key}'", path.display()),
            None => format!("config key '{key}'"),
        }
    }

    /// The option if given, else the file's key, else nothing.
    fn pick<T>(
        &self,
        option: Option<T>,
        flag: &str,
        file: Option<T>,
        key: &str,
    ) -> Option<Sourced<T>> {
        match (option, file) {
            (Some(value), _) => Some(Sourced {
                value,
                origin: flag.to_string(),
                from_file: false,
            }),
            (None, Some(value)) => Some(Sourced {
                value,
                origin: self.file_origin(key),
                from_file: true,
            }),
            (None, None) => None,
        }
    }

    /// [`Self::pick`], else the default, named `default FLAG`.
    fn pick_or<T>(
        &self,
        option: Option<T>,
        flag: &str,
        file: Option<T>,
        key: &str,
        default: T,
    ) -> Sourced<T> {
        self.pick(option, flag, file, key)
            .unwrap_or_else(|| Sourced {
                value: default,
                origin: format!("default {}", flag.split(' ').next().unwrap_or(flag)),
                from_file: false,
            })
    }

    /// A feature on by default: off when `--no-FLAG` is given, else the file's key decides.
    fn on_unless(&self, off: bool, flag: &str, file: Option<bool>, key: &str) -> bool {
        self.pick_or(off.then_some(false), flag, file, key, true)
            .value
    }

    /// A path: relative paths in the file are relative to the file, so the file can move with
    /// its keys.
    fn path(&self, sourced: Sourced<PathBuf>) -> PathBuf {
        let base = self.config_path.and_then(Path::parent);
        match base {
            Some(base) if sourced.from_file && sourced.value.is_relative() => {
                base.join(sourced.value)
            }
            _ => sourced.value,
        }
    }

    /// A list option (repeatable, so empty means not given), each entry parsed.
    fn list<T>(
        &self,
        option: &[String],
        flag: &str,
        file: Option<&Vec<String>>,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, Error> {
        let option = (!option.is_empty()).then_some(option);
        match self.pick(option, flag, file.map(Vec::as_slice), key) {
            None => Ok(Vec::new()),
            Some(s) => s
                .value
                .iter()
                .map(|v| parse(v).map_err(|problem| Error::config(&s.origin, problem)))
                .collect(),
        }
    }
}

impl Settings {
    /// Reads the config file the arguments name (if any) and builds the settings.
    pub fn load(args: &Options) -> Result<Self, Error> {
        let file = match &args.config {
            None => None,
            Some(path) => {
                let text = read_config_file(path)?;
                let config = FileConfig::parse(&text).map_err(|problem| Error::ConfigFile {
                    path: path.clone(),
                    problem,
                })?;
                Some((path.clone(), config))
            }
        };
        Self::from_parts(args, file)
    }

    /// Merges parsed arguments and a parsed config file, and validates the result. Pure.
    pub fn from_parts(args: &Options, file: Option<(PathBuf, FileConfig)>) -> Result<Self, Error> {
        let (config_path, config) = match file {
            Some((path, config)) => (Some(path), config),
            None => (None, FileConfig::default()),
        };
        let layers = Layers {
            config_path: config_path.as_deref(),
        };

        let server = layers.pick_or(
            args.server.clone(),
            "--server (or CERTBOT_DJANGO_SERVER)",
            config.server.clone(),
            "server",
            DEFAULT_SERVER.to_string(),
        );
        validate_server(&server.value).map_err(|problem| Error::config(&server.origin, problem))?;

        let username = layers.pick_or(
            args.username.clone(),
            "--username (or CERTBOT_DJANGO_USERNAME)",
            config.username.clone(),
            "username",
            DEFAULT_USERNAME.to_string(),
        );
        validate_username(&username.value)
            .map_err(|problem| Error::config(&username.origin, problem))?;

        // The key is one setting with two forms: the highest layer that names either wins.
        let option_key = match (&args.key_file, &args.key_directory) {
            (Some(f), _) => Some(KeySource::File(f.clone())),
            (None, Some(d)) => Some(KeySource::Directory(d.clone())),
            (None, None) => None,
        };
        let file_key = match (config.key_file.clone(), config.key_directory.clone()) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    layers.file_origin("key_file"),
                    "key_file and key_directory are both set: keep one",
                ));
            }
            (Some(f), None) => Some(KeySource::File(f)),
            (None, Some(d)) => Some(KeySource::Directory(d)),
            (None, None) => None,
        };
        let key = layers
            .pick(option_key, "--key-file", file_key, "key_file")
            .map(|s| {
                let from_file = s.from_file;
                let path = |value: PathBuf| {
                    layers.path(Sourced {
                        value,
                        origin: s.origin.clone(),
                        from_file,
                    })
                };
                match s.value {
                    KeySource::File(f) => KeySource::File(path(f)),
                    KeySource::Directory(d) => KeySource::Directory(path(d)),
                }
            });

        let ca_bundle = layers
            .pick(
                args.ca_bundle.clone(),
                "--ca-bundle",
                config.ca_bundle.clone(),
                "ca_bundle",
            )
            .map(|s| layers.path(s));

        let timeout = layers.pick_or(
            args.timeout,
            "--timeout",
            config.timeout,
            "timeout",
            DEFAULT_TIMEOUT_SECS,
        );
        if !(1..=MAX_TIMEOUT_SECS).contains(&timeout.value) {
            return Err(Error::config(
                &timeout.origin,
                format!(
                    "{} seconds is out of range: use 1 to {MAX_TIMEOUT_SECS}",
                    timeout.value
                ),
            ));
        }

        let self_check = layers.on_unless(
            args.no_self_check,
            "--no-self-check",
            config.self_check,
            "self_check",
        );

        let self_check_url = layers.pick_or(
            args.self_check_url.clone(),
            "--self-check-url",
            config.self_check_url.clone(),
            "self_check_url",
            DEFAULT_SELF_CHECK_URL.to_string(),
        );
        urls::validate_template(&self_check_url.value, &["domain", "token"])
            .map_err(|problem| Error::config(&self_check_url.origin, problem))?;

        let resolve = layers.list(
            &args.resolve,
            "--resolve",
            config.resolve.as_ref(),
            "resolve",
            ResolveRule::parse,
        )?;
        let self_check_nodes = layers.list(
            &args.self_check_node,
            "--self-check-node",
            config.self_check_nodes.as_ref(),
            "self_check_nodes",
            Node::parse,
        )?;
        let on_failure = layers
            .pick_or(
                args.on_failure,
                "--on-failure",
                config.on_failure,
                "on_failure",
                OnFailure::default(),
            )
            .value;

        let batch = layers.on_unless(args.no_batch, "--no-batch", config.batch, "batch");

        let verbosity = args.verbosity;

        Ok(Settings {
            server: server.value,
            server_origin: server.origin,
            username: username.value,
            key,
            ca_bundle,
            timeout: Duration::from_secs(timeout.value),
            self_check,
            self_check_url: self_check_url.value,
            self_check_url_origin: self_check_url.origin,
            resolve,
            self_check_nodes,
            on_failure,
            batch,
            verbosity,
            config_file: config_path,
        })
    }

    /// The site's base URL for this identifier, ending with `/` (`urls::site_base`).
    pub fn server_url(&self, identifier: &Identifier) -> Result<reqwest::Url, Error> {
        urls::site_base(&self.server, identifier)
            .map_err(|problem| Error::config(&self.server_origin, problem))
    }

    /// The URL the self-check polls for this challenge.
    pub fn self_check_url(&self, challenge: &Challenge) -> Result<reqwest::Url, Error> {
        urls::self_check(&self.self_check_url, challenge)
            .map_err(|problem| Error::config(&self.self_check_url_origin, problem))
    }

    /// The key file for this identifier: `--key-file`, or the legacy per-domain name in
    /// `--key-directory`.
    pub fn key_path(&self, identifier: &Identifier) -> Result<PathBuf, Error> {
        match &self.key {
            Some(KeySource::File(path)) => Ok(path.clone()),
            Some(KeySource::Directory(dir)) => {
                let name = identifier.to_string().replace('.', "");
                Ok(dir.join(format!("{LEGACY_KEY_PREFIX}{name}")))
            }
            None => Err(Error::config(
                "--key-file",
                "no private key configured: pass --key-file PATH (or --key-directory DIR, or \
                 key_file in --config FILE); create a key with 'auth-hook keygen --key-file PATH'",
            )),
        }
    }
}

/// Reads the config file: a regular file (opened without blocking), at most
/// [`MAX_CONFIG_FILE`] bytes of UTF-8, that neither group nor others may write and that belongs
/// to the caller or root, as OpenSSH wants of `~/.ssh/config`. Its settings choose the key and
/// where the signed requests go, so a file someone else can change is not trusted.
fn read_config_file(path: &Path) -> Result<String, Error> {
    let fail = |problem: String| Error::ConfigFile {
        path: path.to_path_buf(),
        problem,
    };
    let (mut file, meta) = files::open_regular(path).map_err(|p| {
        fail(match p {
            FileProblem::NotFound => {
                "it does not exist: check --config (or CERTBOT_DJANGO_CONFIG)".to_string()
            }
            FileProblem::PermissionDenied => {
                "permission denied: run the hook as a user that may read it".to_string()
            }
            other => other.describe("a TOML file"),
        })
    })?;
    let (mode, owner) = files::mode_and_owner(&meta);
    if let Some(problem) = files::config_file_problem(path, mode, owner, files::caller_uid()) {
        return Err(fail(problem));
    }
    let bytes = files::read_capped(&mut file, MAX_CONFIG_FILE)
        .map_err(|p| fail(p.describe("a TOML file")))?;
    String::from_utf8(bytes)
        .map_err(|_| fail("it is not UTF-8 text, so it is not a TOML file".into()))
}

/// Checks the `--server` template, catching the two first-run mistakes with their fix: a host
/// without a scheme, and the API's own URL instead of the site's base URL.
fn validate_server(template: &str) -> Result<(), String> {
    if !template.contains("://") {
        return Err(format!(
            "{} has no scheme: did you mean {}?",
            crate::text::echo(template),
            crate::text::echo(&format!("https://{}", template.trim_start_matches('/')))
        ));
    }
    let trimmed = template.trim_end_matches('/');
    if let Some(base) = trimmed.strip_suffix(urls::CHALLENGES_PATH.trim_end_matches('/')) {
        return Err(format!(
            "{} ends in /{}, but it must be the site's base URL (the hooks add that path \
             themselves): use {}",
            crate::text::echo(template),
            urls::CHALLENGES_PATH.trim_end_matches('/'),
            crate::text::echo(base.trim_end_matches('/'))
        ));
    }
    urls::validate_template(template, &["domain"])
}

fn validate_username(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the user name is empty".into());
    }
    // Django's default user model allows 150 characters of letters, digits and @.+-_.
    if name.chars().count() > 150 || name.chars().any(char::is_control) {
        return Err(
            "a Django user name has at most 150 characters and no control characters".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &Options, file: &str) -> Result<Settings, Error> {
        let config = FileConfig::parse(file).unwrap();
        Settings::from_parts(args, Some((PathBuf::from("/etc/hooks/cfg.toml"), config)))
    }

    #[test]
    fn defaults_apply_when_nothing_is_given() {
        let s = Settings::from_parts(&Options::default(), None).unwrap();
        assert_eq!(s.server, "https://{domain}");
        assert_eq!(s.username, "certbot");
        assert_eq!(s.timeout, Duration::from_secs(60));
        assert!(s.self_check);
        assert_eq!(s.self_check_url, DEFAULT_SELF_CHECK_URL);
        assert_eq!(s.key, None);
        assert_eq!(s.verbosity, Verbosity::Normal);
    }

    #[test]
    fn options_override_the_config_file_which_overrides_defaults() {
        let file = r#"
            server = "https://api.example.com/sub/"
            username = "acme"
            timeout = 30
            self_check = false
            key_file = "keys/k.pem"
            resolve = ["*:127.0.0.1"]
        "#;
        let s = settings(&Options::default(), file).unwrap();
        assert_eq!(s.server, "https://api.example.com/sub/");
        assert_eq!(s.username, "acme");
        assert_eq!(s.timeout, Duration::from_secs(30));
        assert!(!s.self_check);
        assert_eq!(s.key, Some(KeySource::File("/etc/hooks/keys/k.pem".into())));
        assert_eq!(s.resolve.len(), 1);

        let args = Options {
            server: Some("http://{domain}:8000".into()),
            timeout: Some(5),
            key_directory: Some("/keys".into()),
            resolve: vec!["a.test:127.0.0.2".into()],
            ..Options::default()
        };
        let s = settings(&args, file).unwrap();
        assert_eq!(s.server, "http://{domain}:8000");
        assert_eq!(s.username, "acme");
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!(s.key, Some(KeySource::Directory("/keys".into())));
        assert_eq!(
            s.resolve,
            vec![ResolveRule::parse("a.test:127.0.0.2").unwrap()]
        );
    }

    #[test]
    fn a_bad_config_value_names_the_file_and_key() {
        let err = settings(&Options::default(), "timeout = 0")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("config file /etc/hooks/cfg.toml, key 'timeout': 0 seconds"),
            "{err}"
        );
        let err = settings(&Options::default(), "server = \"ftp://{domain}\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("key 'server'") && err.contains("http://"),
            "{err}"
        );
        let err = settings(&Options::default(), "resolve = [\"nope\"]")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("key 'resolve'") && err.contains("HOST:ADDR"),
            "{err}"
        );
    }

    #[test]
    fn a_toml_error_keeps_its_caret_drawing_on_separate_lines() {
        let err = FileConfig::parse("timeout = 5\nservr = \"x\"\n").unwrap_err();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines[0], "TOML parse error at line 2, column 1", "{err}");
        assert_eq!(lines[2], "2 | servr = \"x\"", "{err}");
        assert_eq!(lines[3], "  | ^^^^^", "{err}");
        assert!(lines[4].starts_with("unknown field `servr`"), "{err}");
        // A control character in the echoed line becomes a space, so the carets stay aligned.
        let err = FileConfig::parse("a\u{1b}b = 1").unwrap_err();
        assert!(!err.contains('\u{1b}'), "{err:?}");
    }

    #[test]
    fn unknown_or_mistyped_config_keys_are_errors() {
        let err = FileConfig::parse("servr = \"x\"").unwrap_err();
        assert!(err.contains("servr"), "{err}");
        let err = FileConfig::parse("timeout = \"60\"").unwrap_err();
        assert!(err.contains("timeout"), "{err}");
    }

    #[test]
    fn a_config_file_problem_names_the_file() {
        let args = Options {
            config: Some("/nonexistent/hooks.toml".into()),
            ..Options::default()
        };
        let err = Settings::load(&args).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "config file /nonexistent/hooks.toml: it does not exist: check --config"
            ),
            "{err}"
        );
    }

    fn load(path: &Path) -> Result<Settings, Error> {
        Settings::load(&Options {
            config: Some(path.to_path_buf()),
            ..Options::default()
        })
    }

    #[test]
    fn a_config_file_others_may_write_is_refused_and_chmod_go_w_fixes_it() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = crate::files::tests::temp_dir("config-mode");
        let dir = tmp.path();
        let path = dir.join("hooks.toml");
        std::fs::write(&path, "timeout = 5\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "config file {p}: group and others may write it (mode 0666), so it is refused, as \
                 OpenSSH refuses such a ~/.ssh/config: run 'chmod go-w {p}'",
                p = path.display()
            )
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(load(&path).unwrap().timeout, Duration::from_secs(5));
    }

    #[test]
    fn a_device_or_a_directory_as_config_file_is_refused_without_reading() {
        let err = load(Path::new("/dev/zero")).unwrap_err().to_string();
        assert_eq!(
            err,
            "config file /dev/zero: it is a character device, not a regular file, so it is \
             refused without reading it: pass the path of a TOML file"
        );
        let err = load(Path::new("/")).unwrap_err().to_string();
        assert!(
            err.contains("it is a directory, not a regular file"),
            "{err}"
        );
    }

    #[test]
    fn templates_with_unknown_placeholders_or_credentials_are_refused() {
        for bad in [
            "https://{host}",
            "https://u:p@{domain}",
            "https://{domain}/?a=b",
            "{domain}",
            "https://",
        ] {
            let args = Options {
                server: Some(bad.into()),
                ..Options::default()
            };
            let err = Settings::from_parts(&args, None).unwrap_err().to_string();
            assert!(err.starts_with("--server"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_server_without_a_scheme_or_with_the_api_path_says_what_to_write() {
        let err = |server: &str| {
            let args = Options {
                server: Some(server.into()),
                ..Options::default()
            };
            Settings::from_parts(&args, None).unwrap_err().to_string()
        };
        assert_eq!(
            err("example.com"),
            "--server (or CERTBOT_DJANGO_SERVER): \"example.com\" has no scheme: did you mean \
             \"https://example.com\"?"
        );
        assert_eq!(
            err("https://example.com/app/.well-known/challenges/"),
            "--server (or CERTBOT_DJANGO_SERVER): \"https://example.com/app/.well-known/challenges/\" \
             ends in /.well-known/challenges, but it must be the site's base URL (the hooks add \
             that path themselves): use \"https://example.com/app\""
        );
        let file_err = settings(&Options::default(), "server = \"{domain}\"")
            .unwrap_err()
            .to_string();
        assert!(
            file_err.starts_with("config file /etc/hooks/cfg.toml, key 'server': \"{domain}\" has no scheme: did you mean \"https://{domain}\"?"),
            "{file_err}"
        );
    }

    #[test]
    fn the_legacy_key_directory_uses_the_domain_without_dots() {
        let args = Options {
            key_directory: Some("/etc/letsencrypt/keys".into()),
            ..Options::default()
        };
        let s = Settings::from_parts(&args, None).unwrap();
        let id = Identifier::parse("www.example.com").unwrap();
        assert_eq!(
            s.key_path(&id).unwrap(),
            PathBuf::from("/etc/letsencrypt/keys/certbot_django_id_rsa_wwwexamplecom")
        );
    }

    #[test]
    fn no_key_at_all_explains_how_to_get_one() {
        let s = Settings::from_parts(&Options::default(), None).unwrap();
        let err = s
            .key_path(&Identifier::parse("a.com").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--key-file") && err.contains("keygen"),
            "{err}"
        );
    }

    #[test]
    fn urls_fill_in_domain_and_token() {
        let s = Settings::from_parts(&Options::default(), None).unwrap();
        let id = Identifier::parse("2001:db8::1").unwrap();
        assert_eq!(
            s.server_url(&id).unwrap().as_str(),
            "https://[2001:db8::1]/"
        );
    }

    #[test]
    fn a_url_that_fails_for_one_domain_names_where_its_template_came_from() {
        // "{domain}x" fits example.com but makes an IPv6 identifier's host invalid.
        let s = settings(&Options::default(), "server = \"https://{domain}x\"").unwrap();
        let id = Identifier::parse("2001:db8::1").unwrap();
        let err = s.server_url(&id).unwrap_err().to_string();
        assert!(
            err.starts_with("config file /etc/hooks/cfg.toml, key 'server': "),
            "{err}"
        );
        let s = settings(
            &Options::default(),
            "self_check_url = \"http://{domain}x/{token}\"",
        )
        .unwrap();
        let probe =
            Challenge::for_identifier(id, "t", "t.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ")
                .unwrap();
        let err = s.self_check_url(&probe).unwrap_err().to_string();
        assert!(
            err.starts_with("config file /etc/hooks/cfg.toml, key 'self_check_url': "),
            "{err}"
        );
    }

    #[test]
    fn both_key_forms_in_one_config_file_are_refused() {
        let err = settings(
            &Options::default(),
            "key_file = \"a\"\nkey_directory = \"b\"",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("keep one"), "{err}");
    }

    /// The example in the repository, which documents every key.
    const EXAMPLE: &str = include_str!("../../../examples/django-hooks.toml");

    /// The example with its commented-out settings (`# key = value`) switched on.
    fn example_uncommented() -> String {
        EXAMPLE
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest)
                    if rest.split_once(" = ").is_some_and(|(key, _)| {
                        !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    }) =>
                {
                    rest
                }
                _ => line,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_example_config_file_loads_and_shows_the_defaults() {
        let config = FileConfig::parse(EXAMPLE).unwrap();
        let path = PathBuf::from("/etc/letsencrypt/django-hooks.toml");
        let s = Settings::from_parts(&Options::default(), Some((path, config))).unwrap();
        let defaults = Settings::from_parts(&Options::default(), None).unwrap();
        assert_eq!(
            s.key,
            Some(KeySource::File(
                "/etc/letsencrypt/django-hooks/key.pem".into()
            ))
        );
        assert_eq!(s.server, defaults.server);
        assert_eq!(s.username, defaults.username);
        assert_eq!(s.timeout, defaults.timeout);
        assert_eq!(s.self_check, defaults.self_check);
        assert_eq!(s.self_check_url, defaults.self_check_url);
        assert_eq!(s.self_check_nodes, defaults.self_check_nodes);
        assert_eq!(s.on_failure, defaults.on_failure);
    }

    #[test]
    fn nodes_and_on_failure_come_from_options_or_the_file() {
        let file =
            "self_check_nodes = [\"10.0.0.5\", \"[2001:db8::5]:8000\"]\non_failure = \"exit\"";
        let s = settings(&Options::default(), file).unwrap();
        assert_eq!(
            s.self_check_nodes,
            vec![
                Node {
                    host: "10.0.0.5".into(),
                    port: 80
                },
                Node {
                    host: "[2001:db8::5]".into(),
                    port: 8000
                }
            ]
        );
        assert_eq!(s.on_failure, OnFailure::Exit);
        let args = Options {
            self_check_node: vec!["app1.internal:8001".into()],
            on_failure: Some(OnFailure::StopCertbot),
            ..Options::default()
        };
        let s = settings(&args, file).unwrap();
        assert_eq!(s.self_check_nodes.len(), 1);
        assert_eq!(s.self_check_nodes[0].to_string(), "app1.internal:8001");
        assert_eq!(s.on_failure, OnFailure::StopCertbot);
        let err = settings(&Options::default(), "self_check_nodes = [\"a b:80\"]")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("key 'self_check_nodes'") && err.contains("HOST[:PORT]"),
            "{err}"
        );
        let err = FileConfig::parse("on_failure = \"sometimes\"").unwrap_err();
        assert!(
            err.contains("on_failure") || err.contains("sometimes"),
            "{err}"
        );
    }

    #[test]
    fn the_example_config_file_documents_every_key_with_a_valid_value() {
        let mut all = FileConfig::parse(&example_uncommented()).unwrap();
        // A key FileConfig gains without an example shows up here as None.
        let shown = format!("{all:?}");
        assert!(!shown.contains("None"), "undocumented key: {shown}");
        // The alternatives are valid too (key_directory replaces key_file).
        all.key_file = None;
        let s =
            Settings::from_parts(&Options::default(), Some(("/etc/x.toml".into(), all))).unwrap();
        assert_eq!(s.resolve.len(), 2);
        assert!(matches!(s.key, Some(KeySource::Directory(_))));
        assert_eq!(s.self_check_nodes.len(), 2);
        assert_eq!(s.on_failure, OnFailure::Auto);
    }

    #[test]
    fn out_of_range_timeouts_are_refused() {
        for t in [0, 3601] {
            let args = Options {
                timeout: Some(t),
                ..Options::default()
            };
            let err = Settings::from_parts(&args, None).unwrap_err().to_string();
            assert!(err.starts_with("--timeout:"), "{err}");
        }
    }
}
