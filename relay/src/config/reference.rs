//! `docs/config.md`: the settings table generated from [`Config`]'s one definition, so the
//! reference cannot drift from the flags (`cometa-relay config-reference` prints it; a test
//! checks the committed file is current).

use clap::{Arg, CommandFactory};

use super::Config;

/// How to bring `docs/config.md` up to date; said by the test that finds it stale.
pub const REGENERATE: &str = "cargo run -p cometa-relay -- config-reference > docs/config.md";

/// The Markdown text of `docs/config.md`.
pub fn markdown() -> String {
    let mut out = format!(
        "# Configuration reference\n\n\
         <!-- Generated from relay/src/config/mod.rs by `{REGENERATE}`; do not edit. -->\n\n\
         Every setting is a flag, an environment variable and a key of the TOML file named by \
         `--config` (the flag without `--`; a list is a TOML array or a comma-separated \
         string). Precedence: flag > environment > file > default. Durations are whole \
         seconds (`-secs`) or milliseconds (`-ms`).\n\n\
         | flag | env | TOML key | default | meaning |\n|---|---|---|---|---|\n"
    );
    for arg in Config::command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let (meaning, default) = meaning_and_default(arg);
        let env = arg
            .get_env()
            .map_or_else(String::new, |e| format!("`{}`", e.to_string_lossy()));
        let key = if long == "config" {
            "—".to_string()
        } else {
            format!("`{long}`")
        };
        out.push_str(&format!(
            "| `--{long}` | {env} | {key} | {} | {} |\n",
            cell(&default),
            cell(&meaning)
        ));
    }
    out
}

/// The help text without its `[default: …]`, and the default: that bracket where the help
/// gives one (a default clap cannot state: a computed or absent value), else clap's.
pub(super) fn meaning_and_default(arg: &Arg) -> (String, String) {
    let help = arg
        .get_long_help()
        .or_else(|| arg.get_help())
        .map(ToString::to_string)
        .unwrap_or_default();
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((text, rest)) = help.split_once(" [default: ")
        && let Some((default, after)) = rest.split_once(']')
    {
        return (format!("{text}{after}"), default.to_string());
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    (help, format!("`{}`", defaults.join(",")))
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_has_a_meaning_a_default_and_an_env_twin() {
        for arg in Config::command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            let (meaning, default) = meaning_and_default(arg);
            assert!(!meaning.is_empty(), "--{long} has no help text");
            assert!(
                default != "``",
                "--{long}: give a clap default or say `[default: …]` in its help"
            );
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            let want = format!("COMETA_{}", long.to_uppercase().replace('-', "_"));
            assert_eq!(env.as_deref(), Some(want.as_str()), "--{long}");
        }
    }

    #[test]
    fn docs_config_md_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/config.md");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == markdown(),
            "docs/config.md is not current: run `{REGENERATE}`"
        );
    }
}
