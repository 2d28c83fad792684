//! The `--config` TOML file: its keys are the flags' names, and each setting it holds is
//! handed to clap as that flag, unless the command line or the environment set it already.

use std::ffi::OsString;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgMatches, Command};

use super::ConfigError;

/// The file's settings as `--name=value` arguments, for the settings `given` took from a
/// default only.
pub(super) fn as_flags(
    path: &Path,
    cmd: &Command,
    given: &ArgMatches,
) -> Result<Vec<OsString>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_path_buf(),
        source: Box::new(source),
    })?;
    let refuse = |reason: String| ConfigError::File {
        path: path.to_path_buf(),
        reason,
    };
    let mut flags = Vec::new();
    for (key, value) in &table {
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()) && key != "config")
            .ok_or_else(|| refuse(format!("unknown setting `{key}`")))?;
        if matches!(
            given.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        let text = flag_text(value).ok_or_else(|| {
            refuse(format!(
                "`{key}` must be a string, a number, a boolean or a list of those"
            ))
        })?;
        flags.push(format!("--{key}={text}").into());
    }
    Ok(flags)
}

/// A TOML value as the text its flag takes; a list as the comma-separated form the list
/// flags split.
fn flag_text(value: &toml::Value) -> Option<String> {
    use toml::Value;
    Some(match value {
        Value::String(s) => s.clone(),
        Value::Integer(n) => n.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::Array(_) => None,
                v => flag_text(v),
            })
            .collect::<Option<Vec<_>>>()?
            .join(","),
        Value::Datetime(_) | Value::Table(_) => return None,
    })
}
