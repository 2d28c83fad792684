//! Tunnel settings, every limit a named field with a documented default.

/// How a [`Tunnel`](crate::Tunnel) paces reconnects, pings and its outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelConfig {
    /// Backoff window of the first reconnect; doubles per failed try. Default 1000 ms.
    pub backoff_base_ms: u64,
    /// Largest backoff window. Default 30 000 ms.
    pub backoff_cap_ms: u64,
    /// `None` (the default) retries forever, since a page left open should come back whenever
    /// the network does. `Some(n)`: after `n` failed tries the tunnel closes with error 2001,
    /// as Wafer did after 5.
    pub max_reconnect_tries: Option<u32>,
    /// Ping period after a socket opens or a `pong` arrives; a `timeout:<s>` packet from the
    /// server replaces it for that connection. Default 15 000 ms (Wafer's). Values under
    /// 1000 ms are raised to 1000 ms.
    pub ping_interval_ms: u64,
    /// After a ping, how long the tunnel waits for *any* inbound frame before it gives the
    /// connection up and reconnects. Default 15 000 ms (Wafer's).
    pub pong_timeout_ms: u64,
    /// Packets kept while the tunnel is not active; beyond it the oldest are dropped and error
    /// 3003 is raised once. Default 1000.
    pub max_outbox: usize,
    /// Limit on each step of a connection attempt (fetching the connect URL, then opening the
    /// socket). Neither `fetch` nor a connecting WebSocket has a timeout of its own in
    /// browsers, and a stalled attempt would otherwise leave the tunnel waiting forever.
    /// `None` disables it. Default 15 000 ms.
    pub connect_timeout_ms: Option<u64>,
    /// Every emit carries an idempotency key and is kept until the relay answers it: sent
    /// again on the next socket when one is lost, and persisted by the host
    /// ([`Action::Persist`](crate::Action::Persist)) for a reload. Default false.
    pub durable: bool,
}

impl Default for TunnelConfig {
    fn default() -> Self {
        Self {
            backoff_base_ms: 1000,
            backoff_cap_ms: 30_000,
            max_reconnect_tries: None,
            ping_interval_ms: 15_000,
            pong_timeout_ms: 15_000,
            max_outbox: 1000,
            connect_timeout_ms: Some(15_000),
            durable: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documentation() {
        let c = TunnelConfig::default();
        assert_eq!(c.backoff_base_ms, 1000);
        assert_eq!(c.backoff_cap_ms, 30_000);
        assert_eq!(c.max_reconnect_tries, None);
        assert_eq!(c.ping_interval_ms, 15_000);
        assert_eq!(c.pong_timeout_ms, 15_000);
        assert_eq!(c.max_outbox, 1000);
        assert_eq!(c.connect_timeout_ms, Some(15_000));
    }
}
