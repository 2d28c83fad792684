//! Checks that span several settings; a single setting's own limits are in its parser
//! ([`super::parse`]).

use super::{Config, ConfigError, exposure};

impl Config {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, reason: &str| ConfigError::Invalid {
            field: field.into(),
            reason: reason.into(),
        };
        if self.max_login_code_ttl < self.login_code_ttl {
            return Err(invalid(
                "max-login-code-ttl-secs",
                "must be at least login-code-ttl-secs",
            ));
        }
        if self.ws_ping >= self.idle_timeout {
            return Err(invalid(
                "ws-ping-secs",
                "must be shorter than idle-timeout-secs",
            ));
        }
        if self.session_ttl_short > self.session_ttl {
            return Err(invalid(
                "session-ttl-short-secs",
                "must not exceed session-ttl-secs",
            ));
        }
        if self.auth_verify_headers.is_empty() {
            return Err(invalid(
                "auth-verify-headers",
                "must be a comma-separated list of header names",
            ));
        }
        exposure::validate(self)
    }
}
