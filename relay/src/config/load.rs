//! Reading the settings: command line and environment through clap, then the TOML file for
//! what those two left unset, then the derived defaults and the cross-setting checks.

use std::error::Error as _;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use super::{Config, ConfigError, file};

impl Config {
    /// The relay's settings from this process's command line, `COMETA_*` environment and
    /// `--config` file.
    pub fn load() -> Result<Self, ConfigError> {
        Self::load_from(std::env::args_os())
    }

    /// As [`Config::load`], with `argv` (program name first) in place of the command line.
    pub fn load_from<I, T>(argv: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
        let cmd = Self::command();
        let given = cmd.clone().try_get_matches_from(&argv).map_err(from_clap)?;
        let given = match given.get_one::<PathBuf>("config_file") {
            Some(path) => {
                let from_file = file::as_flags(path, &cmd, &given)?;
                cmd.try_get_matches_from(argv.into_iter().chain(from_file))
                    .map_err(from_clap)?
            }
            None => given,
        };
        Self::from_matches(&given)
    }

    /// A config for tests and embedding: defaults, with the data dir given.
    pub fn for_data_dir(dir: impl AsRef<Path>) -> Self {
        Self {
            data_dir: dir.as_ref().to_path_buf(),
            ..Self::default()
        }
    }

    fn from_matches(given: &ArgMatches) -> Result<Self, ConfigError> {
        let mut c = Self::from_arg_matches(given).map_err(from_clap)?;
        c.derive_defaults(given);
        c.validate()?;
        Ok(c)
    }
}

impl Default for Config {
    fn default() -> Self {
        // The defaults alone: `COMETA_*` variables configure the binary, not an embedding
        // relay or a test's. Validation of the defaults cannot fail; a test keeps it so.
        Self::command()
            .mut_args(|a| a.env(None))
            .try_get_matches_from(["cometa-relay"])
            .map_err(from_clap)
            .and_then(|given| Self::from_matches(&given))
            .unwrap_or_else(|e| unreachable!("default config: {e}"))
    }
}

/// A value a parser refused becomes [`ConfigError::Invalid`] naming the setting, without
/// echoing the value (it may be a key); anything else (an unknown flag, `--help`) stays
/// clap's to print.
fn from_clap(e: clap::Error) -> ConfigError {
    if e.kind() == ErrorKind::ValueValidation
        && let (Some(ContextValue::String(arg)), Some(reason)) =
            (e.get(ContextKind::InvalidArg), e.source())
    {
        let flag = arg.trim_start_matches('-');
        let field = flag.split([' ', '=']).next().unwrap_or(flag);
        return ConfigError::Invalid {
            field: field.to_string(),
            reason: reason.to_string(),
        };
    }
    ConfigError::Args(Box::new(e))
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use super::*;

    fn load(args: &[&str]) -> Result<Config, ConfigError> {
        Config::load_from(std::iter::once("cometa-relay").chain(args.iter().copied()))
    }

    fn load_ok(args: &[&str]) -> Config {
        load(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn refused(args: &[&str]) -> String {
        match load(args) {
            Ok(_) => panic!("{args:?} accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.max_devices_per_user, 16);
        assert_eq!(c.max_frame_bytes, 65536);
        assert_eq!(c.session_ttl, Duration::from_secs(30 * 86_400));
        assert_eq!(c.auth_verify_headers.len(), 3);
        assert_eq!(c.max_connections_per_address, 256);
    }

    #[test]
    fn flags_beat_file_and_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("relay.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nmax-devices-per-user = 3\ndrain-secs = 7\n\
             allowed-origins = [\"https://a.example/\", \"https://b.example\"]\ndemo = true\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let file = path.to_string_lossy();
        let c = load_ok(&["--config", &file, "--listen", "127.0.0.1:9100"]);
        assert_eq!(c.listen.port(), 9100);
        assert_eq!(c.max_devices_per_user, 3);
        assert_eq!(c.drain, Duration::from_secs(7));
        assert_eq!(
            c.allowed_origins,
            ["https://a.example", "https://b.example"]
        );
        assert!(c.demo);
    }

    #[test]
    fn rejects_bad_values_naming_the_setting() {
        assert_eq!(
            refused(&["--outbound-queue", "0"]),
            "invalid setting `outbound-queue`: must be greater than 0"
        );
        let key = refused(&["--api-key", "short-secret"]);
        assert_eq!(
            key,
            "invalid setting `api-key`: must be at least 16 characters"
        );
        assert!(
            refused(&["--webhook-url", "not a url"]).starts_with("invalid setting `webhook-url`")
        );
        assert!(refused(&["--max-json-depth=500"]).contains("at most 120"));
        assert!(refused(&["--ws-ping-secs", "60"]).contains("shorter than idle-timeout-secs"));
        assert!(refused(&["--auth-verify-headers", ","]).contains("auth-verify-headers"));
        assert!(matches!(load(&["--bogus"]), Err(ConfigError::Args(_))));
    }

    #[test]
    fn file_refuses_unknown_keys_and_bad_values() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("relay.toml");
        let with = |text: &str| {
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
            refused(&["--config", &path.to_string_lossy()])
        };
        assert!(with("bogus = 1\n").contains("unknown setting `bogus`"));
        assert!(with("config = \"other.toml\"\n").contains("unknown setting `config`"));
        assert_eq!(
            with("outbound-queue = 0\n"),
            "invalid setting `outbound-queue`: must be greater than 0"
        );
        assert!(with("listen = { a = 1 }\n").contains("`listen` must be"));
    }

    #[test]
    fn cometql_is_off_by_default_and_a_bare_port_is_loopback() {
        assert_eq!(Config::default().cometql_listen, None);
        let at = |v: &str| load(&["--cometql-listen", v]).map(|c| c.cometql_listen);
        let loopback = Some(SocketAddr::from(([127, 0, 0, 1], 3306)));
        assert_eq!(at("3306").ok(), Some(loopback));
        assert_eq!(at(":3306").ok(), Some(loopback));
        assert_eq!(
            at("0.0.0.0:3307").ok(),
            Some(Some(SocketAddr::from(([0, 0, 0, 0], 3307))))
        );
        assert!(at("nowhere").is_err());
    }

    #[test]
    fn a_proxy_lifts_the_per_address_limit_unless_it_is_set() {
        let proxied = load_ok(&["--trust-forwarded-for"]);
        assert_eq!(proxied.max_connections_per_address, usize::MAX);
        let set = load_ok(&[
            "--trust-forwarded-for=true",
            "--max-connections-per-address=9",
        ]);
        assert_eq!(set.max_connections_per_address, 9);
    }
}
