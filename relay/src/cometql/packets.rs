//! A bound on the MySQL packets a CometQL client sends. The protocol crate buffers a whole
//! packet (up to 16 MiB, and continuation packets after it) before the relay sees a byte of
//! the statement; this reader checks each packet's length header as it streams past and fails
//! the connection on a packet over the cap, so a client cannot make the relay hold more.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};

pub struct Bounded<R> {
    inner: R,
    cap: usize,
    header: [u8; 4],
    have: usize,
    /// Payload bytes of the current packet still to pass.
    left: usize,
}

impl<R> Bounded<R> {
    pub fn new(inner: R, cap: usize) -> Self {
        Self {
            inner,
            cap,
            header: [0; 4],
            have: 0,
            left: 0,
        }
    }

    /// Walks the bytes just read; an error when a header announces more than the cap.
    fn check(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            if self.left > 0 {
                let skip = self.left.min(bytes.len());
                self.left -= skip;
                bytes = &bytes[skip..];
                continue;
            }
            self.header[self.have] = bytes[0];
            self.have += 1;
            bytes = &bytes[1..];
            if self.have == 4 {
                self.have = 0;
                let len = usize::from(self.header[0])
                    | usize::from(self.header[1]) << 8
                    | usize::from(self.header[2]) << 16;
                if len > self.cap {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("MySQL packet of {len} bytes is over the {} cap", self.cap),
                    ));
                }
                self.left = len;
            }
        }
        Ok(())
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Bounded<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let this = &mut *self;
        Poll::Ready(this.check(&buf.filled()[before..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(len: usize) -> Vec<u8> {
        let mut p = vec![len as u8, (len >> 8) as u8, (len >> 16) as u8, 0];
        p.resize(4 + len, b'x');
        p
    }

    #[test]
    fn packets_up_to_the_cap_pass_in_any_split() {
        let mut b = Bounded::new((), 10);
        let bytes: Vec<u8> = [packet(10), packet(0), packet(3)].concat();
        for chunk in bytes.chunks(3) {
            assert!(b.check(chunk).is_ok());
        }
        assert!(b.check(&packet(11)[..4]).is_err());
    }
}
