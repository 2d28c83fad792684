mod healthcheck;

use anyhow::Context;
use cometa_relay::Relay;
use cometa_relay::config::{Config, ConfigError, LogFormat};
use tracing_subscriber::EnvFilter;

/// Every message and frame is a few small allocations, often made on one thread and freed on
/// another; glibc's allocator spent ~8% of the relay's time on them under personal load.
/// mimalloc: CPU per fan-out delivery 385 → 312 ns, per personal message -8%, idle RSS per
/// connection +140 B (6.2 → 6.35 KB).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "config-reference") {
        print!("{}", cometa_relay::config::reference::markdown());
        return Ok(());
    }
    // A word rather than a clap subcommand: it takes the very same flags and `COMETA_*`
    // environment as the relay it checks, so it finds the listen address the relay uses.
    if argv.get(1).is_some_and(|a| a == "healthcheck") {
        argv.remove(1);
        let config = load(argv)?;
        match healthcheck::probe(config.listen).await {
            Ok(()) => return Ok(()),
            Err(why) => {
                eprintln!("cometa-relay healthcheck: unhealthy: {why}");
                std::process::exit(1);
            }
        }
    }
    let config = load(argv)?;
    init_logs(config.log_format);
    let listen = config.listen;
    let data_dir = config.data_dir.clone();
    let backlog = config.listen_backlog;
    let mut relay = Relay::open(config).context("cannot open the relay")?;
    if let Some(key) = &relay.generated_api_key {
        println!(
            "generated an API key (kept in {}): {key}",
            data_dir.join("api-key").display()
        );
    }
    let listener =
        listen_on(listen, backlog).with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let cometql = relay
        .bind_cometql()
        .await
        .context("cannot listen for CometQL")?;
    // Tests and scripts wait for this exact line, the first that says "listening on".
    println!("cometa-relay listening on http://{addr}");
    if let Some(cql) = cometql {
        println!("cometa-relay CometQL listening on {cql}");
    }
    relay.serve(listener, shutdown_signal()).await?;
    Ok(())
}

/// `--help`, `--version` and unknown flags are printed by clap, with its exit codes.
fn load(argv: Vec<std::ffi::OsString>) -> anyhow::Result<Config> {
    match Config::load_from(argv) {
        Err(ConfigError::Args(e)) => e.exit(),
        config => Ok(config?),
    }
}

fn init_logs(format: LogFormat) {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

fn listen_on(addr: std::net::SocketAddr, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // A restart must be able to take the port back while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
