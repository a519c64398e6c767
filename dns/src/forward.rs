//! Names outside the cluster: the question goes to the host's nameservers (those of a
//! resolv.conf), one after another until one answers, over UDP and again over TCP when the
//! UDP answer is truncated (CoreDNS's `forward . /etc/resolv.conf`).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long one upstream gets to answer (over UDP, and again over TCP).
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// The nameservers questions are forwarded to.
#[derive(Clone, Debug, Default)]
pub struct Upstreams {
    servers: Vec<SocketAddr>,
    timeout: Option<Duration>,
}

/// The `nameserver` lines of a resolv.conf, in order (port 53).
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    ironkube_node_shared::resolv_conf::nameservers(text)
        // Scoped IPv6 addresses (`fe80::1%eth0`) are not usable from here.
        .filter_map(|address| address.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

impl Upstreams {
    /// These servers.
    pub fn new(servers: Vec<SocketAddr>) -> Upstreams {
        Upstreams { servers, timeout: None }
    }

    /// The nameservers of `path` except `this` server's own addresses (asking ourselves
    /// would loop; a wildcard address stands for the loopback ones). A missing file gives
    /// none.
    pub fn from_resolv_conf(path: &Path, this: &[SocketAddr]) -> Upstreams {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let is_this = |server: &SocketAddr| {
            this.iter().any(|own| own == server || (own.ip().is_unspecified() && server.ip().is_loopback() && own.port() == server.port()))
        };
        Upstreams::new(parse_resolv_conf(&text).into_iter().filter(|s| !is_this(s)).collect())
    }

    /// Each upstream gets `timeout` (default 2 s) per transport.
    pub fn with_timeout(mut self, timeout: Duration) -> Upstreams {
        self.timeout = Some(timeout);
        self
    }

    /// Whether there is nobody to ask.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// The servers asked, in order.
    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// The first answer to the wire-format `query` (its ID checked), or None when no
    /// upstream answers (the caller answers SERVFAIL).
    pub async fn exchange(&self, query: &[u8]) -> Option<Vec<u8>> {
        let timeout = self.timeout.unwrap_or(UPSTREAM_TIMEOUT);
        for server in &self.servers {
            match tokio::time::timeout(timeout, udp(*server, query)).await {
                Ok(Ok(reply)) if !truncated(&reply) => return Some(reply),
                Ok(Ok(_)) => match tokio::time::timeout(timeout, tcp(*server, query)).await {
                    Ok(Ok(reply)) => return Some(reply),
                    Ok(Err(e)) => tracing::debug!(%server, error = %e, "upstream TCP failed"),
                    Err(_) => tracing::debug!(%server, "upstream TCP timed out"),
                },
                Ok(Err(e)) => tracing::debug!(%server, error = %e, "upstream failed"),
                Err(_) => tracing::debug!(%server, "upstream timed out"),
            }
        }
        None
    }
}

/// The TC bit of a wire-format message.
fn truncated(message: &[u8]) -> bool {
    message.get(2).is_some_and(|flags| flags & 0x02 != 0)
}

fn same_id(query: &[u8], reply: &[u8]) -> bool {
    reply.len() >= 12 && query.get(..2) == reply.get(..2)
}

async fn udp(server: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(server).await?;
    socket.send(query).await?;
    let mut buf = vec![0; 65535];
    loop {
        let n = socket.recv(&mut buf).await?;
        // Stray datagrams (an earlier question's late answer) are skipped.
        if same_id(query, &buf[..n]) {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn tcp(server: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(server).await?;
    let len = u16::try_from(query.len()).map_err(|_| std::io::Error::other("query too long"))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream.write_all(&framed).await?;
    let reply_len = stream.read_u16().await? as usize;
    let mut reply = vec![0; reply_len];
    stream.read_exact(&mut reply).await?;
    if !same_id(query, &reply) {
        return Err(std::io::Error::other("answer to another question"));
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_nameservers_in_order() {
        let text = "# generated\nsearch example.com\nnameserver 192.0.2.1\nnameserver  2001:db8::1 \nnameserver fe80::1%eth0\noptions ndots:2\nnameserver bogus\n";
        assert_eq!(parse_resolv_conf(text), ["192.0.2.1:53".parse().unwrap(), "[2001:db8::1]:53".parse().unwrap()] as [SocketAddr; 2]);
    }

    #[test]
    fn own_addresses_are_skipped() {
        let dir = std::env::temp_dir().join(format!("ironkube-dns-resolv-{}", std::process::id()));
        std::fs::write(&dir, "nameserver 10.96.0.10\nnameserver 192.0.2.1\nnameserver 127.0.0.1\n").unwrap();
        let upstreams = Upstreams::from_resolv_conf(&dir, &["10.96.0.10:53".parse().unwrap(), "0.0.0.0:53".parse().unwrap()]);
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(upstreams.servers(), ["192.0.2.1:53".parse().unwrap()] as [SocketAddr; 1]);
        assert!(Upstreams::from_resolv_conf(Path::new("/nonexistent/resolv.conf"), &[]).is_empty());
    }

    /// A local UDP and TCP "upstream": UDP answers truncated, TCP answers whole, both with
    /// the question's ID; the exchange goes on to TCP.
    #[tokio::test]
    async fn truncated_udp_answers_are_asked_again_over_tcp() {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let (n, from) = udp.recv_from(&mut buf).await.unwrap();
            let mut reply = buf[..n].to_vec();
            reply[2] |= 0x82; // QR + TC
            udp.send_to(&reply, from).await.unwrap();
        });
        tokio::spawn(async move {
            let (mut stream, _) = tcp.accept().await.unwrap();
            let len = stream.read_u16().await.unwrap();
            let mut query = vec![0; len as usize];
            stream.read_exact(&mut query).await.unwrap();
            query[2] |= 0x80;
            query.extend_from_slice(b"whole");
            stream.write_u16(query.len() as u16).await.unwrap();
            stream.write_all(&query).await.unwrap();
        });
        let query = [0xab, 0xcd, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let reply = Upstreams::new(vec![addr]).exchange(&query).await.expect("an answer");
        assert!(reply.ends_with(b"whole"), "{reply:?}");
        assert_eq!(&reply[..2], &[0xab, 0xcd]);
    }

    #[tokio::test]
    async fn silent_upstreams_give_none_after_the_timeout() {
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let upstreams = Upstreams::new(vec![silent.local_addr().unwrap()]).with_timeout(Duration::from_millis(50));
        assert_eq!(upstreams.exchange(&[1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]).await, None);
        assert_eq!(Upstreams::default().exchange(&[1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]).await, None);
    }
}
