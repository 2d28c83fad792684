//! The relay binary as a child process: started with flags, ready once it prints its
//! listening line, killed when dropped.

use std::process::Stdio;

use anyhow::{Context, Result};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{KEY, WAIT};

/// Starts the binary and waits for its listening line; returns the child and its address.
pub async fn spawn(dir: &std::path::Path, listen: &str) -> Result<(Child, String)> {
    spawn_with(dir, listen, |_| {}).await
}

/// [`spawn`] with more flags or environment, or stderr captured.
pub async fn spawn_with(
    dir: &std::path::Path,
    listen: &str,
    tune: impl FnOnce(&mut Command),
) -> Result<(Child, String)> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cometa-relay"));
    cmd.args(["--listen", listen, "--api-key", KEY])
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    tune(&mut cmd);
    let mut child = cmd.spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .context("no listening line")??
        .context("relay exited")?;
    let addr = line
        .strip_prefix("cometa-relay listening on http://")
        .with_context(|| format!("unexpected first line {line:?}"))?
        .to_string();
    Ok((child, addr))
}
