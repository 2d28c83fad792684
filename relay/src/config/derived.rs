//! Defaults that depend on the machine or on another setting, and the tidying of list
//! settings, applied once clap has read every source.

use std::path::PathBuf;

use clap::ArgMatches;
use clap::parser::ValueSource;

use super::Config;

impl Config {
    pub(super) fn derive_defaults(&mut self, given: &ArgMatches) {
        // Behind a proxy every connection comes from the proxy's address.
        if self.trust_forwarded_for
            && given.value_source("max_connections_per_address") == Some(ValueSource::DefaultValue)
        {
            self.max_connections_per_address = usize::MAX;
        }
        if self.static_dir.is_none() {
            let demo = PathBuf::from("examples/chat");
            self.static_dir = demo.is_dir().then_some(demo);
        }
        if self.sdk_dir.is_none() {
            let npm = PathBuf::from("npm");
            self.sdk_dir = npm.join("dist").is_dir().then_some(npm);
        }
        // `*` is what "any" is already; an empty item is a stray comma.
        self.allowed_origins.retain(|o| !o.is_empty() && o != "*");
        self.auth_verify_headers.retain(|h| !h.is_empty());
        self.jwt_audience = self.jwt_audience.take().filter(|s| !s.is_empty());
        self.jwt_issuer = self.jwt_issuer.take().filter(|s| !s.is_empty());
    }
}
