//! The little of RFC 6455 framing the client read loop needs, by hand.
//!
//! tungstenite's per-message read path (its own buffer, a copy into a message, the UTF-8
//! check, the message type) cost the generator about as much CPU per delivery as a lean
//! server spends, so on shared cores the generator was the bottleneck. The handshake still
//! goes through tungstenite; only the frames after it are parsed here.

/// Opcodes (RFC 6455 §5.2).
pub const TEXT: u8 = 0x1;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// Largest payload accepted; the bench's texts are a few hundred bytes, so anything near
/// this is a broken stream, and the limit keeps a bogus length from growing buffers.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// RFC 6455 asks clients for a fresh random key per frame so that attacker-chosen bytes
/// cannot poison caches between a browser and a server (§10.3); on loopback to our own
/// servers a fixed one is enough.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One frame from the server, payload borrowed from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub fin: bool,
    pub opcode: u8,
    pub payload: &'a [u8],
}

/// Why the byte stream cannot be WebSocket frames from a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    /// A payload over [`MAX_PAYLOAD`].
    TooLarge,
    /// Servers must not mask (§5.1); a mask bit means we lost the frame boundaries.
    Masked,
    /// RSV bits without a negotiated extension.
    Reserved,
    /// A control frame that is fragmented or longer than 125 bytes (§5.5).
    Control,
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Bad::TooLarge => "frame over the size limit",
            Bad::Masked => "masked frame from the server",
            Bad::Reserved => "reserved bits set",
            Bad::Control => "malformed control frame",
        })
    }
}

impl std::error::Error for Bad {}

/// The frame at the start of `buf` and its length on the wire, or `None` while `buf` holds
/// only part of it.
pub fn parse(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, Bad> {
    let [b0, b1, rest @ ..] = buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(Bad::Reserved);
    }
    if b1 & 0x80 != 0 {
        return Err(Bad::Masked);
    }
    let (len, header) = match b1 & 0x7f {
        126 => match rest.first_chunk::<2>() {
            Some(n) => (u64::from(u16::from_be_bytes(*n)), 4),
            None => return Ok(None),
        },
        127 => match rest.first_chunk::<8>() {
            Some(n) => (u64::from_be_bytes(*n), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= MAX_PAYLOAD)
        .ok_or(Bad::TooLarge)?;
    let (fin, opcode) = (b0 & 0x80 != 0, b0 & 0x0f);
    if opcode >= CLOSE && (len > 125 || !fin) {
        return Err(Bad::Control);
    }
    let end = header + len;
    Ok(buf.get(header..end).map(|payload| {
        let frame = Frame {
            fin,
            opcode,
            payload,
        };
        (frame, end)
    }))
}

/// Appends one unfragmented client frame, masked as servers require (§5.3).
pub fn encode(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(n) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().zip(MASK.iter().cycle()).map(|(b, m)| b ^ m));
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub const CONTINUATION: u8 = 0x0;

    /// An unmasked server frame.
    pub fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(if fin { 0x80 } else { 0 }) | opcode];
        let len = payload.len();
        if len < 126 {
            out.push(len as u8);
        } else if let Ok(n) = u16::try_from(len) {
            out.push(126);
            out.extend_from_slice(&n.to_be_bytes());
        } else {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn lengths_of_every_width() {
        for len in [0, 125, 126, 300, 65_535, 65_536, 70_000] {
            let payload = vec![b'a'; len];
            let wire = server_frame(true, TEXT, &payload);
            let (frame, used) = parse(&wire).ok().flatten().expect("whole frame");
            assert_eq!(used, wire.len(), "len {len}");
            assert_eq!(frame.payload.len(), len);
            assert!(frame.fin);
            assert_eq!(frame.opcode, TEXT);
            // Every proper prefix is "not yet".
            for cut in [0, 1, 2, 3, 9, wire.len() - 1] {
                if cut < wire.len() {
                    assert_eq!(parse(&wire[..cut]), Ok(None), "len {len} cut {cut}");
                }
            }
        }
    }

    #[test]
    fn frames_back_to_back() {
        let mut wire = server_frame(true, TEXT, b"one");
        wire.extend(server_frame(true, PING, b"p"));
        wire.extend(server_frame(true, CLOSE, &1000u16.to_be_bytes()));
        let mut at = 0;
        let mut seen = Vec::new();
        while let Some((f, n)) = parse(&wire[at..]).expect("valid") {
            seen.push((f.opcode, f.payload.to_vec()));
            at += n;
        }
        assert_eq!(at, wire.len());
        assert_eq!(
            seen,
            vec![
                (TEXT, b"one".to_vec()),
                (PING, b"p".to_vec()),
                (CLOSE, vec![0x03, 0xe8])
            ]
        );
    }

    #[test]
    fn rejects_what_a_server_cannot_send() {
        let mut big = vec![0x81, 127];
        big.extend_from_slice(&(MAX_PAYLOAD as u64 + 1).to_be_bytes());
        assert_eq!(parse(&big), Err(Bad::TooLarge));
        assert_eq!(parse(&[0x81, 0x81, 1, 2, 3, 4, b'x']), Err(Bad::Masked));
        assert_eq!(parse(&[0xc1, 0]), Err(Bad::Reserved));
        assert_eq!(parse(&server_frame(false, PING, b"")), Err(Bad::Control));
        assert_eq!(
            parse(&server_frame(true, PING, &[0; 126])),
            Err(Bad::Control)
        );
    }

    #[test]
    fn client_frames_are_masked_and_round_trip() {
        for len in [1, 4, 200, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut wire = Vec::new();
            encode(&mut wire, TEXT, &payload);
            assert_eq!(wire[0], 0x81);
            assert_ne!(wire[1] & 0x80, 0, "mask bit");
            let header = wire.len() - len - 4;
            let key = &wire[header..header + 4];
            let unmasked: Vec<u8> = wire[header + 4..]
                .iter()
                .zip(key.iter().cycle())
                .map(|(b, m)| b ^ m)
                .collect();
            assert_eq!(unmasked, payload);
        }
    }
}
