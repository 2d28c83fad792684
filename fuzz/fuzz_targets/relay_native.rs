//! Native-dialect sessions against a real relay in this process: each line of the input is
//! one text frame on a fresh `/connect` socket (the first may be `auth`, e.g. as the fuzz
//! user `fz` with key `fuzz-key`).
//!
//! Properties: the relay never panics, hangs or drops the socket without a close code of its
//! own; and, when the socket stays open, every request frame whose body names an `id` gets
//! exactly one `reply` with that id, before the `pong` that answers a `ping` sent after them.

#![no_main]

use std::collections::BTreeMap;
use std::net::TcpStream;

use cometa_fuzz::{Retry, WAIT, relay};
use cometa_protocol::CloseCode;
use cometa_protocol::frames::RequestId;
use cometa_protocol::native;
use cometa_protocol::packet::{Packet, PacketType};
use libfuzzer_sys::fuzz_target;
use tungstenite::{Message, WebSocket};

/// Frames per input; past this the rest of the input is ignored.
const MAX_FRAMES: usize = 32;

/// Packet types the relay answers with a `reply` whenever their body yields an `id`.
const REQUESTS: &[&str] = &[
    native::AUTH,
    native::SUBSCRIBE,
    native::UNSUBSCRIBE,
    native::PUBLISH,
    native::HISTORY,
    native::PRESENCE,
    native::USER_DATA,
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let frames: Vec<&str> = text.split('\n').take(MAX_FRAMES).collect();
    let addr = relay();
    let tcp = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect: {e}"));
    tcp.set_read_timeout(Some(WAIT))
        .unwrap_or_else(|e| panic!("timeout: {e}"));
    let (mut ws, _) = tungstenite::client::client(format!("ws://{addr}/connect"), Retry(tcp))
        .unwrap_or_else(|e| panic!("upgrade: {e}"));

    let mut expected: BTreeMap<u64, usize> = BTreeMap::new();
    let mut pings = 1;
    let mut closing = false;
    for f in &frames {
        let p = Packet::parse(f);
        if REQUESTS.contains(&p.kind.as_str()) {
            let body = p.content.unwrap_or("{}");
            if let Some(id) = serde_json::from_str::<RequestId>(body)
                .ok()
                .and_then(|r| r.id)
            {
                *expected.entry(id).or_default() += 1;
            }
        }
        pings += usize::from(p.kind == PacketType::Ping);
        if ws.send(Message::text(*f)).is_err() {
            return closed_early(&mut ws);
        }
        if p.kind == PacketType::Close {
            closing = true;
            break;
        }
    }
    if !closing && ws.send(Message::text("ping")).is_err() {
        return closed_early(&mut ws);
    }

    let mut replies: BTreeMap<u64, usize> = BTreeMap::new();
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => {
                let p = Packet::parse(t.as_str());
                match p.kind {
                    PacketType::Pong if !closing => {
                        pings -= 1;
                        if pings == 0 {
                            break;
                        }
                    }
                    PacketType::Other(native::REPLY) => {
                        let id = p
                            .content
                            .and_then(|c| serde_json::from_str::<RequestId>(c).ok())
                            .and_then(|r| r.id)
                            .unwrap_or_else(|| panic!("a reply without an id: {t:?}"));
                        *replies.entry(id).or_default() += 1;
                    }
                    _ => {}
                }
            }
            Ok(Message::Close(frame)) => {
                check_close(frame.map(|f| u16::from(f.code)));
                if !closing {
                    // Closed by the relay (a limit, too many devices): nothing to count.
                    return;
                }
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("the socket failed before the relay answered: {e}"),
        }
    }
    assert_eq!(replies, expected, "replies by id for {frames:?}");
    let _ = ws.close(None);
    let _ = ws.flush();
});

/// The relay closed while frames were still being sent: it must have said why.
fn closed_early(ws: &mut WebSocket<Retry>) {
    loop {
        match ws.read() {
            Ok(Message::Close(frame)) => return check_close(frame.map(|f| u16::from(f.code))),
            Ok(_) => {}
            // Already read the close frame when the send failed.
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => return,
            Err(e) => panic!("the socket failed without a close frame: {e}"),
        }
    }
}

fn check_close(code: Option<u16>) {
    let code = code.unwrap_or_else(|| panic!("a close frame without a code"));
    assert!(
        CloseCode::from_code(code).is_some(),
        "close code {code} is not one of the relay's"
    );
}
