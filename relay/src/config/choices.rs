//! The settings that pick one of a few behaviours.

/// How hard a commit is pushed to disk before the API answers 2xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// fsync on every (group) commit: survives power loss.
    Full,
    /// Survives a crash of the relay process (`kill -9`), not of the machine.
    Normal,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}
