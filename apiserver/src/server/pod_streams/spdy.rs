//! The client end of an SPDY/3.1 session (draft-mbelshe-httpbis-spdy-00), as much as
//! the kubelet's streaming protocols need: the client opens streams (SYN_STREAM with a
//! few headers), sends and receives DATA, half-closes with FIN, answers PINGs. No flow
//! control: the Kubernetes streaming servers (spdystream) use none.
//!
//! Header blocks are a zlib stream spanning the session. Ours is written with *stored*
//! (uncompressed) deflate blocks, which every inflater reads and which need neither a
//! compressor nor the SPDY dictionary (it is only announced when used, and a stored block
//! never refers to it); each block ends like a sync flush. Header blocks the server sends (SYN_REPLY) carry nothing we need
//! and are skipped unread.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf};
use tokio::sync::mpsc;

const VERSION: u16 = 3;
const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const FLAG_FIN: u8 = 0x01;
/// RST_STREAM status REFUSED_STREAM.
const REFUSED_STREAM: u32 = 3;
/// The largest frame payload (24-bit length).
const MAX_PAYLOAD: usize = (1 << 24) - 1;

/// What the server sent, as far as a stream user cares.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// Bytes on a stream; `fin` when the server will send no more on it.
    Data { stream: u32, data: Bytes, fin: bool },
    /// The server will send no more on the stream (a SYN_REPLY with FIN).
    Fin { stream: u32 },
    /// The server reset the stream.
    Reset { stream: u32 },
}

/// The sending half: opens streams and writes to them. Cheap to use from one task;
/// frames go to a writer task in order.
pub struct Session {
    out: mpsc::UnboundedSender<Vec<u8>>,
    next_stream: u32,
    headers_started: bool,
}

/// The receiving half.
struct Frames<R> {
    reader: R,
    out: mpsc::UnboundedSender<Vec<u8>>,
}

/// Starts a client session on an upgraded connection: the sending half, and the server's
/// events (the channel closes when the connection ends). Reading runs in a task of its
/// own, so a reader is never cancelled mid-frame.
pub fn client<IO>(io: IO) -> (Session, mpsc::Receiver<Event>)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (session, mut frames) = start(io);
    let (events, received) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let event = match frames.next().await {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!("SPDY session read failed: {e}");
                    break;
                }
            };
            if events.send(event).await.is_err() {
                return;
            }
        }
    });
    (session, received)
}

fn start<IO>(io: IO) -> (Session, Frames<ReadHalf<IO>>)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (reader, mut writer) = tokio::io::split(io);
    let (out, mut frames) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        while let Some(frame) = frames.recv().await {
            if writer.write_all(&frame).await.is_err() {
                return;
            }
        }
        let _ = writer.shutdown().await;
    });
    (Session { out: out.clone(), next_stream: 1, headers_started: false }, Frames { reader, out })
}

impl Session {
    /// Opens a stream with `headers` (names lowercase, as SPDY/3 requires); its id.
    pub fn open(&mut self, headers: &[(&str, &str)]) -> u32 {
        let id = self.next_stream;
        self.next_stream += 2;
        let block = self.header_block(headers);
        let mut payload = BytesMut::with_capacity(10 + block.len());
        payload.put_u32(id);
        payload.put_u32(0); // associated-to-stream-id
        payload.put_u8(0); // priority
        payload.put_u8(0); // slot
        payload.put_slice(&block);
        self.send(control(SYN_STREAM, 0, &payload));
        id
    }

    /// Writes `data` on `stream`; `fin` half-closes it (no more data from us).
    pub fn data(&self, stream: u32, data: &[u8], fin: bool) {
        let mut chunks = data.chunks(MAX_PAYLOAD).peekable();
        if chunks.peek().is_none() {
            self.send(data_frame(stream, &[], fin));
        }
        while let Some(chunk) = chunks.next() {
            self.send(data_frame(stream, chunk, fin && chunks.peek().is_none()));
        }
    }

    fn send(&self, frame: Vec<u8>) {
        // A closed writer means the connection is gone; the reader sees that too.
        let _ = self.out.send(frame);
    }

    /// The next piece of the session's header zlib stream carrying `headers`.
    fn header_block(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut plain = BytesMut::new();
        plain.put_u32(headers.len() as u32);
        for (name, value) in headers {
            plain.put_u32(name.len() as u32);
            plain.put_slice(name.as_bytes());
            plain.put_u32(value.len() as u32);
            plain.put_slice(value.as_bytes());
        }
        let mut out = Vec::with_capacity(plain.len() + 16);
        if !self.headers_started {
            // zlib header: deflate, 32K window, no preset dictionary; (0x78 << 8 | 0x01) % 31 == 0.
            out.extend_from_slice(&[0x78, 0x01]);
            self.headers_started = true;
        }
        for chunk in plain.chunks(u16::MAX as usize) {
            // A non-final stored block: BFINAL=0, BTYPE=00, padded to the byte; LEN, NLEN.
            let len = chunk.len() as u16;
            out.push(0);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        // An empty stored block, as a sync flush ends with: inflaters (Go's) hand out the
        // block's bytes only on reaching it, without reading past this frame.
        out.extend_from_slice(&[0, 0, 0, 0xff, 0xff]);
        out
    }
}

impl<R: AsyncRead + Unpin> Frames<R> {
    /// The next event; `None` when the connection ended. PINGs are answered here and
    /// streams the server tries to open are refused.
    async fn next(&mut self) -> std::io::Result<Option<Event>> {
        loop {
            let mut head = [0u8; 8];
            match self.reader.read_exact(&mut head).await {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(e),
            }
            let flags = head[4];
            let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
            let mut payload = vec![0u8; len];
            self.reader.read_exact(&mut payload).await?;
            let word = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
            if word & 0x8000_0000 == 0 {
                return Ok(Some(Event::Data { stream: word, data: Bytes::from(payload), fin: flags & FLAG_FIN != 0 }));
            }
            let kind = (word & 0xffff) as u16;
            let mut p = &payload[..];
            match kind {
                SYN_REPLY if p.len() >= 4 && flags & FLAG_FIN != 0 => return Ok(Some(Event::Fin { stream: p.get_u32() & 0x7fff_ffff })),
                RST_STREAM if p.len() >= 4 => return Ok(Some(Event::Reset { stream: p.get_u32() & 0x7fff_ffff })),
                PING => {
                    let _ = self.out.send(control(PING, 0, &payload));
                }
                SYN_STREAM if p.len() >= 4 => {
                    let mut refuse = BytesMut::new();
                    refuse.put_u32(p.get_u32() & 0x7fff_ffff);
                    refuse.put_u32(REFUSED_STREAM);
                    let _ = self.out.send(control(RST_STREAM, 0, &refuse));
                }
                // SYN_REPLY, SETTINGS, WINDOW_UPDATE, GOAWAY (streams in flight go on), HEADERS.
                _ => {}
            }
        }
    }
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    f.extend_from_slice(&kind.to_be_bytes());
    f.push(flags);
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(payload);
    f
}

fn data_frame(stream: u32, data: &[u8], fin: bool) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + data.len());
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.push(if fin { FLAG_FIN } else { 0 });
    f.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(data);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inflates a zlib stream made of stored blocks (what we write), checking its framing.
    fn inflate_stored(mut z: &[u8]) -> Vec<u8> {
        // Deflate with a 32 KiB window, no dictionary; 0x7801 is a multiple of 31 as the
        // zlib header check requires.
        assert_eq!(&z[..2], &[0x78, 0x01]);
        z = &z[2..];
        let mut out = Vec::new();
        while !z.is_empty() {
            assert_eq!(z[0], 0, "non-final stored block");
            let len = u16::from_le_bytes([z[1], z[2]]);
            assert_eq!(!len, u16::from_le_bytes([z[3], z[4]]));
            out.extend_from_slice(&z[5..5 + len as usize]);
            z = &z[5 + len as usize..];
        }
        out
    }

    #[tokio::test]
    async fn frames_on_the_wire() {
        let (ours, mut theirs) = tokio::io::duplex(1 << 16);
        let (mut session, mut frames) = start(ours);
        let id = session.open(&[("streamtype", "error")]);
        let id2 = session.open(&[("streamtype", "stdin")]);
        assert_eq!((id, id2), (1, 3));
        session.data(id2, b"hi", true);
        let mut buf = vec![0u8; 8];
        theirs.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf[..4], &[0x80, 0x03, 0x00, 0x01], "SYN_STREAM, version 3");
        let len = u32::from_be_bytes([0, buf[5], buf[6], buf[7]]) as usize;
        let mut payload = vec![0u8; len];
        theirs.read_exact(&mut payload).await.unwrap();
        assert_eq!(&payload[..4], &1u32.to_be_bytes());
        let mut first = payload[10..].to_vec();
        theirs.read_exact(&mut buf).await.unwrap();
        let len = u32::from_be_bytes([0, buf[5], buf[6], buf[7]]) as usize;
        let mut payload = vec![0u8; len];
        theirs.read_exact(&mut payload).await.unwrap();
        first.extend_from_slice(&payload[10..]);
        assert!(first.ends_with(&[0, 0, 0, 0xff, 0xff]), "each header block ends with a sync flush");
        let plain = inflate_stored(&first);
        let mut expected = Vec::new();
        for v in ["error", "stdin"] {
            expected.extend_from_slice(&1u32.to_be_bytes());
            expected.extend_from_slice(&10u32.to_be_bytes());
            expected.extend_from_slice(b"streamtype");
            expected.extend_from_slice(&(v.len() as u32).to_be_bytes());
            expected.extend_from_slice(v.as_bytes());
        }
        assert_eq!(plain, expected);
        let mut data = vec![0u8; 10];
        theirs.read_exact(&mut data).await.unwrap();
        assert_eq!(data, [0, 0, 0, 3, FLAG_FIN, 0, 0, 2, b'h', b'i']);

        // Their side: a PING is echoed; data, a reset and the end come out as events.
        theirs.write_all(&control(PING, 0, &7u32.to_be_bytes())).await.unwrap();
        theirs.write_all(&data_frame(1, b"status", false)).await.unwrap();
        theirs.write_all(&control(RST_STREAM, 0, &[0, 0, 0, 3, 0, 0, 0, 5])).await.unwrap();
        drop(theirs.shutdown().await);
        assert_eq!(frames.next().await.unwrap(), Some(Event::Data { stream: 1, data: Bytes::from_static(b"status"), fin: false }));
        assert_eq!(frames.next().await.unwrap(), Some(Event::Reset { stream: 3 }));
        let mut ping = vec![0u8; 12];
        theirs.read_exact(&mut ping).await.unwrap();
        assert_eq!(ping, control(PING, 0, &7u32.to_be_bytes()));
        drop(theirs);
        assert_eq!(frames.next().await.unwrap(), None);
    }
}
