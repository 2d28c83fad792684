//! Graceful drain: on shutdown the relay stops accepting and tells every live connection to
//! reconnect elsewhere (1001), spread over `--drain-secs` instead of all at once.

mod common;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use common::{Seen, TestRelay};

const WINDOW: Duration = Duration::from_secs(1);

#[tokio::test]
async fn closes_are_1001_and_spread_over_the_drain_window() -> Result<()> {
    let (r, app) = TestRelay::start_exposed(|c| c.drain = WINDOW).await?;
    let mut tunnels = Vec::new();
    let mut natives = Vec::new();
    for i in 0..5 {
        let skey = r.login(&format!("t{i}")).await?;
        tunnels.push(r.tunnel(&skey).await?);
        let (n, _) = r.native_user(&format!("n{i}"), &format!("d{i}")).await?;
        natives.push(n);
    }
    for t in &mut tunnels {
        t.sync().await?;
    }
    for n in &mut natives {
        n.sync().await?;
    }
    assert_eq!(app.hub.live(), 10);
    assert!(!app.is_draining());

    let addr = r.addr;
    let began = Instant::now();
    let stopped = tokio::spawn(r.stop());
    let mut readers = Vec::new();
    for mut t in tunnels {
        readers.push(tokio::spawn(async move {
            match t.next().await? {
                Seen::Closed(code) => Ok((Instant::now(), code.unwrap_or(0))),
                other => bail!("expected a close, got {other:?}"),
            }
        }));
    }
    for mut n in natives {
        readers.push(tokio::spawn(async move {
            let f = n.frame().await?;
            let code = f
                .strip_prefix("closed:")
                .with_context(|| format!("expected a close, got {f}"))?;
            Ok((Instant::now(), code.parse::<u16>()?))
        }));
    }
    let mut closes = Vec::new();
    for reader in readers {
        closes.push(reader.await??);
    }
    assert!(app.is_draining(), "marked draining once shutdown began");
    assert!(
        closes.iter().all(|&(_, code)| code == 1001),
        "every close is 1001 (reconnect elsewhere): {closes:?}"
    );
    let first = closes.iter().map(|c| c.0).min().context("closes")?;
    let last = closes.iter().map(|c| c.0).max().context("closes")?;
    let spread = last - first;
    eprintln!(
        "drain of {} connections over {WINDOW:?}: first close after {:?}, last after {:?}, spread {spread:?}",
        closes.len(),
        first - began,
        last - began
    );
    assert!(
        spread >= WINDOW.mul_f64(0.4),
        "closes spread over the window, not all at once: {spread:?}"
    );
    assert!(
        last - began < WINDOW + Duration::from_millis(500),
        "the last close comes within the window: {:?}",
        last - began
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no new connection is accepted while draining"
    );
    tokio::time::timeout(common::WAIT, stopped).await???;
    assert!(
        began.elapsed() < WINDOW + Duration::from_secs(3),
        "the relay stopped soon after the window: {:?}",
        began.elapsed()
    );
    Ok(())
}
