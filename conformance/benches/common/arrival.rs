//! When bytes reached a socket, by the kernel's clock: TCP streams that read with
//! `recvmsg` and keep the receive timestamp (`SO_TIMESTAMPNS`) of the last bytes read.
//!
//! A benchmark client that shares the machine with the server timestamps an event when
//! its thread gets round to reading and decrypting it; with 1,000 watchers that is mostly
//! the client's own queue. The kernel stamps each segment as it is received, which on
//! loopback is while the server's `send` runs: the moment the event was delivered.
//! Timestamps are wall-clock (`CLOCK_REALTIME`), so compare them with `SystemTime`.

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime};

/// The arrival time of the last bytes a stream read (nanoseconds since the epoch, 0: none).
#[derive(Clone, Debug, Default)]
pub struct LastArrival(Arc<AtomicU64>);

impl LastArrival {
    /// When the last bytes read had arrived.
    pub fn get(&self) -> Option<SystemTime> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(SystemTime::UNIX_EPOCH + Duration::from_nanos(ns)),
        }
    }

    fn set(&self, at: SystemTime) {
        let ns = at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        self.0.store(ns, Ordering::Relaxed);
    }
}

/// Asks the kernel to stamp what `fd` receives.
fn enable(fd: &impl std::os::fd::AsFd) -> io::Result<()> {
    setsockopt(fd, sockopt::ReceiveTimestampns, &true)?;
    Ok(())
}

/// One `recvmsg` into `buf`, with the receive timestamp if the kernel gave one.
fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<SystemTime>)> {
    let mut control = nix::cmsg_space!(nix::sys::time::TimeSpec);
    let mut iov = [io::IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(fd, &mut iov, Some(&mut control), MsgFlags::empty())?;
    let stamp = msg.cmsgs()?.find_map(|cmsg| match cmsg {
        ControlMessageOwned::ScmTimestampns(ts) => Some(SystemTime::UNIX_EPOCH + Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32)),
        _ => None,
    });
    Ok((msg.bytes, stamp))
}

/// A blocking TCP stream that records arrival times.
#[derive(Debug)]
pub struct Stamped {
    tcp: std::net::TcpStream,
    last: LastArrival,
}

impl Stamped {
    /// Wraps `tcp`; `last` is updated on every read that returns data.
    pub fn new(tcp: std::net::TcpStream, last: LastArrival) -> io::Result<Self> {
        enable(&tcp)?;
        Ok(Stamped { tcp, last })
    }
}

impl Read for Stamped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (n, stamp) = recv(self.tcp.as_raw_fd(), buf)?;
        if let Some(at) = stamp.filter(|_| n > 0) {
            self.last.set(at);
        }
        Ok(n)
    }
}

impl Write for Stamped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// A tokio TCP stream that records arrival times.
pub struct AsyncStamped {
    tcp: tokio::net::TcpStream,
    last: LastArrival,
}

impl AsyncStamped {
    /// Wraps `tcp`; `last` is updated on every read that returns data.
    pub fn new(tcp: tokio::net::TcpStream, last: LastArrival) -> io::Result<Self> {
        enable(&tcp)?;
        Ok(AsyncStamped { tcp, last })
    }
}

impl tokio::io::AsyncRead for AsyncStamped {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            ready!(this.tcp.poll_read_ready(cx))?;
            let fd = this.tcp.as_raw_fd();
            match this.tcp.try_io(tokio::io::Interest::READABLE, || recv(fd, buf.initialize_unfilled())) {
                Ok((n, stamp)) => {
                    if let Some(at) = stamp.filter(|_| n > 0) {
                        this.last.set(at);
                    }
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl tokio::io::AsyncWrite for AsyncStamped {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}
