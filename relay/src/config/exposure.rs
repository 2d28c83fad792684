//! Start-up checks of what a setting exposes to the network: demo mode stays on loopback
//! unless the operator says otherwise.

use super::{Config, ConfigError};

pub(super) fn validate(c: &Config) -> Result<(), ConfigError> {
    // Demo mode hands out a key for any name it is asked for: on a public address anyone
    // could act as any demo user.
    if c.demo && !c.demo_public && !c.listen.ip().is_loopback() {
        return Err(ConfigError::Invalid {
            field: "demo".into(),
            reason: format!(
                "demo mode lets anyone log in as any demo user, so it only listens on loopback \
                 (127.0.0.1 or ::1), not {}; add --demo-public to expose it anyway",
                c.listen
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo_on(listen: &str, public: bool) -> Result<Config, ConfigError> {
        let public = format!("--demo-public={public}");
        Config::load_from(["cometa-relay", "--demo", "--listen", listen, &public])
    }

    #[test]
    fn demo_stays_on_loopback_unless_forced() {
        assert!(demo_on("127.0.0.1:8080", false).is_ok());
        assert!(demo_on("[::1]:8080", false).is_ok());
        let err = demo_on("0.0.0.0:8080", false).err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("--demo-public")),
            "{err:?}"
        );
        assert!(demo_on("0.0.0.0:8080", true).is_ok());
        assert!(
            Config::load_from(["cometa-relay", "--listen", "0.0.0.0:8080"]).is_ok(),
            "no demo, no limit"
        );
    }
}
