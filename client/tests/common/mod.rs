//! The test host shared by the scenario files: it answers the tunnel's actions by hand and
//! owns a clock that only moves when told to.

// Each test binary uses a different subset of the helpers.
#![allow(dead_code)]

use cometa_client::{Action, Event, Status, Tunnel, TunnelConfig};

pub const URL: &str = "wss://relay.test/weapp/tunnel/ws?ticket=t";

pub struct Host {
    pub t: Tunnel,
    pub now: u64,
}

impl Host {
    pub fn new(config: TunnelConfig) -> Self {
        Self::seeded(config, 0x5EED)
    }

    pub fn seeded(config: TunnelConfig, seed: u64) -> Self {
        Self {
            t: Tunnel::new(config, seed),
            now: 0,
        }
    }

    pub fn actions(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.t.poll_action()).collect()
    }

    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.t.poll_event()).collect()
    }

    /// Moves the clock to `to`, firing every timer on the way at its own deadline, as a host
    /// with punctual timers would.
    pub fn advance_to(&mut self, to: u64) {
        while let Some(due) = self.t.poll_timeout() {
            if due > to {
                break;
            }
            self.now = self.now.max(due);
            self.t.handle_timeout(self.now);
        }
        self.now = to;
    }

    pub fn advance(&mut self, by: u64) {
        self.advance_to(self.now + by);
    }

    /// open → fetch → socket open, checking each step; leaves actions and events drained.
    pub fn connect(&mut self) {
        self.t.open(self.now);
        assert_eq!(self.actions(), [Action::FetchConnectUrl]);
        self.answer_and_open();
        assert_eq!(self.events(), [Event::Connect]);
    }

    pub fn answer_and_open(&mut self) {
        self.t.handle_connect_url(self.now, Ok(URL.to_owned()));
        assert_eq!(self.actions(), [Action::OpenSocket { url: URL.into() }]);
        self.t.handle_socket_open(self.now);
        assert_eq!(self.t.status(), Status::Active);
    }

    pub fn recv(&mut self, text: &str) {
        self.t.handle_socket_message(self.now, text);
    }

    pub fn error_codes(events: &[Event]) -> Vec<u32> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Error { code, .. } => Some(*code),
                _ => None,
            })
            .collect()
    }
}

pub fn send(s: &str) -> Action {
    Action::Send(s.to_owned())
}

pub fn msg(event: &str, content_json: &str) -> Event {
    Event::Message {
        event: event.into(),
        content_json: content_json.into(),
    }
}
