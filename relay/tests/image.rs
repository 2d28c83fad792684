//! The container image (`make image`) run with Podman the way an operator would: API call,
//! tunnel, the image's own health check, then a restart on the same volume that must keep the
//! session and deliver the message queued before it. Also checks deploy/'s manifests parse.
//!
//! Built only with the `image-test` feature (it needs Podman and a built image), so a plain
//! `cargo test` leaves it out: `make test-image` builds the image once and runs this file with
//! the feature on. `COMETA_IMAGE` names the image to run.

mod common;

use std::process::Stdio;

use anyhow::{Context, Result, bail, ensure};
use common::{TestRelay, WAIT};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const KEY: &str = common::KEY;

fn image() -> String {
    std::env::var("COMETA_IMAGE").unwrap_or_else(|_| "cometa-relay:latest".into())
}

/// Podman as it works on CI machines and in containers: the vfs store (no overlay), runc with
/// cgroupfs (crun fails on hybrid cgroups).
fn podman() -> Command {
    let mut cmd = Command::new("podman");
    cmd.args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"])
        .args(["--storage-driver", "vfs"])
        .kill_on_drop(true);
    cmd
}

async fn podman_ok(args: &[&str]) -> Result<String> {
    let out = tokio::time::timeout(WAIT, podman().args(args).output())
        .await
        .with_context(|| format!("podman {args:?} took over {WAIT:?}"))??;
    if !out.status.success() {
        bail!(
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A hard limit of this process from /proc/self/limits, capped: Podman otherwise asks the
/// kernel for more than an unprivileged host allows and the container does not start.
fn hard_limit(name: &str, cap: u64) -> Result<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits")?;
    let line = limits
        .lines()
        .find(|l| l.starts_with(name))
        .with_context(|| format!("no {name} in /proc/self/limits"))?;
    let hard = line[name.len()..]
        .split_whitespace()
        .nth(1)
        .context("hard limit column")?;
    Ok(hard.parse::<u64>().map_or(cap, |h| h.min(cap)))
}

/// A named volume and a container name that die with the test.
struct Names {
    container: String,
    volume: String,
}

impl Drop for Names {
    fn drop(&mut self) {
        // Best effort, synchronously: a failed test must not leave containers behind.
        let run = |args: &[&str]| {
            let _ = std::process::Command::new("podman")
                .args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"])
                .args(["--storage-driver", "vfs"])
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        run(&["rm", "-f", "-t", "0", &self.container]);
        run(&["volume", "rm", "-f", &self.volume]);
    }
}

/// Runs the image in the foreground (so its stdout is ours) and waits for its listening line.
async fn run_relay(names: &Names, port: u16) -> Result<Child> {
    let nofile = hard_limit("Max open files", 4096)?;
    let nproc = hard_limit("Max processes", 4096)?;
    let mut child = podman()
        .args([
            "run",
            "--rm",
            "--name",
            &names.container,
            "--network",
            "host",
        ])
        // The image's HEALTHCHECK stays defined (the test runs it by hand) but is not
        // scheduled: Podman schedules through systemd timers, absent on CI machines (Podman
        // 4.3 still logs that it cannot reach systemd; harmless).
        .arg("--health-interval=disable")
        .arg(format!("--ulimit=nofile={nofile}:{nofile}"))
        .arg(format!("--ulimit=nproc={nproc}:{nproc}"))
        .args(["-v", &format!("{}:/data", names.volume)])
        // Host networking: loopback and a free port, not the image's 0.0.0.0:8080.
        .args(["-e", &format!("COMETA_LISTEN=127.0.0.1:{port}")])
        .args(["-e", &format!("COMETA_API_KEY={KEY}")])
        .arg(image())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .context("no listening line from the container")??
        .context("the container exited")?;
    ensure!(
        line == format!("cometa-relay listening on http://127.0.0.1:{port}"),
        "unexpected first line {line:?}"
    );
    Ok(child)
}

/// Stops the container as an orchestrator does (SIGTERM) and waits for it to exit.
async fn stop_relay(names: &Names, mut child: Child) -> Result<()> {
    podman_ok(&["stop", "-t", "5", &names.container]).await?;
    tokio::time::timeout(WAIT, child.wait()).await??;
    Ok(())
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[tokio::test]
async fn image_serves_tunnels_and_keeps_its_volume_across_a_restart() -> Result<()> {
    let id = std::process::id();
    let names = Names {
        container: format!("cometa-image-test-{id}"),
        volume: format!("cometa-image-test-{id}"),
    };
    podman_ok(&["volume", "create", &names.volume]).await?;
    let port = free_port()?;
    let child = run_relay(&names, port).await?;
    let r = TestRelay::attach(([127, 0, 0, 1], port).into());

    // As a non-root uid with no /etc/passwd; the port and volume the README's line names.
    let user = podman_ok(&["inspect", "--format", "{{.Config.User}}", &image()]).await?;
    assert_eq!(user, "10001:10001");
    let shape = podman_ok(&[
        "inspect",
        "--format",
        "{{json .Config.ExposedPorts}} {{json .Config.Volumes}}",
        &image(),
    ])
    .await?;
    assert!(
        shape.contains("8080/tcp") && shape.contains("/data"),
        "{shape}"
    );
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))?;
    let docker_run = readme
        .lines()
        .find(|l| l.starts_with("docker run"))
        .context("the README's docker run line")?;
    for part in [
        "-p 8080:8080",
        "-v cometa-data:/data",
        "-e COMETA_API_KEY",
        "cometa-relay:latest",
    ] {
        assert!(docker_run.contains(part), "{docker_run:?} lacks {part}");
    }

    // API call and tunnel.
    let skey = r.login("alice").await?;
    let mut t = r.tunnel(&skey).await?;
    r.push("alice", "live", json!(1)).await?;
    assert_eq!(t.message().await?, ("live".into(), json!(1)));
    t.sync().await?;
    drop(t);

    // The image's HEALTHCHECK, and the command inside the container.
    podman_ok(&["healthcheck", "run", &names.container]).await?;
    podman_ok(&["exec", &names.container, "/cometa-relay", "healthcheck"]).await?;

    // Queued while no tunnel is open, then a restart on the same volume.
    let queued = r.push("alice", "queued", json!(2)).await?;
    assert_eq!(queued["delivered"], 0, "{queued}");
    stop_relay(&names, child).await?;
    let child = run_relay(&names, port).await?;

    let (st, user) = r.weapp("/weapp/user", "X-WX-Skey", &skey).await?;
    assert_eq!(st, 200, "the session survives the restart: {user}");
    let mut t = r.tunnel(&skey).await?;
    loop {
        // The live message may come again if its cursor was not yet written; the queued
        // one must come.
        let (event, data) = t.message().await?;
        if event == "queued" {
            assert_eq!(data, json!(2));
            break;
        }
        assert_eq!((event.as_str(), data), ("live", json!(1)));
    }
    drop(t);
    stop_relay(&names, child).await
}

#[tokio::test]
async fn deploy_manifests_parse() -> Result<()> {
    let deploy = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy");
    // What an operator relies on, checked where it is written: YAML that parses, the probes
    // on the right paths, the key from the Secret, the data on the claim.
    let check = r#"
import sys, yaml
compose = yaml.safe_load(open(sys.argv[1]))
relay = compose["services"]["relay"]
assert relay["volumes"] == ["cometa-data:/data"], relay
assert "cometa-data" in compose["volumes"]
assert "COMETA_API_KEY" in relay["environment"]
docs = {d["kind"]: d for d in yaml.safe_load_all(open(sys.argv[2])) if d}
assert set(docs) == {"Secret", "PersistentVolumeClaim", "Deployment", "Service"}, set(docs)
pod = docs["Deployment"]["spec"]["template"]["spec"]
c = pod["containers"][0]
assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
key = [e for e in c["env"] if e["name"] == "COMETA_API_KEY"][0]
assert key["valueFrom"]["secretKeyRef"]["name"] == docs["Secret"]["metadata"]["name"]
assert c["volumeMounts"][0]["mountPath"] == "/data"
claim = pod["volumes"][0]["persistentVolumeClaim"]["claimName"]
assert claim == docs["PersistentVolumeClaim"]["metadata"]["name"]
assert pod["securityContext"]["runAsUser"] == 10001
# A stop: the preStop wait, then the drain over COMETA_DRAIN_SECS (the relay's default 10 when
# unset), the 5 s the listener gives requests in flight and 2 s for close frames, all within
# the grace period, or the kubelet SIGKILLs the relay mid-drain.
env = {e["name"]: e.get("value") for e in c["env"]}
drain = int(env.get("COMETA_DRAIN_SECS") or 10)
pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
grace = pod["terminationGracePeriodSeconds"]
assert grace >= pre_stop + drain + 5 + 2, (grace, pre_stop, drain)
# Every field against Kubernetes' own schemas (PyPI's kubernetes-validate ships them; setup
# installs it), strict so a misspelt field fails; 1.30 is the oldest the manifest claims.
import kubernetes_validate
for d in yaml.safe_load_all(open(sys.argv[2])):
    if d:
        kubernetes_validate.validate(d, "1.30", strict=True)
print("deploy manifests ok")
"#;
    let out = Command::new("python3")
        .args(["-c", check])
        .arg(format!("{deploy}/compose.yaml"))
        .arg(format!("{deploy}/kubernetes.yaml"))
        .output()
        .await?;
    ensure!(
        out.status.success(),
        "deploy/ manifests: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
