//! The UDP and TCP listeners on one address, and one question's way from bytes to bytes:
//! decode (hickory-proto), [`records::resolve`] or [`Upstreams`], encode, and over UDP
//! truncate (TC bit) what exceeds 512 bytes or the size the client's EDNS allows.

use crate::forward::Upstreams;
use crate::records::{self, Directory, Outcome, Zone};
use hickory_proto::op::{Edns, Message, MessageType, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// The UDP payload size this server offers in its EDNS OPT record (the DNS Flag Day 2020
/// value, as CoreDNS).
const EDNS_PAYLOAD: u16 = 1232;

/// How long a TCP connection may sit idle between questions.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// A UDP socket and a TCP listener on the same address and port.
pub struct Listeners {
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
}

impl Listeners {
    /// Binds both; port 0 picks one free for both.
    pub async fn bind(address: SocketAddr) -> Result<Listeners, crate::Error> {
        let io = |what: &str, source| crate::Error::Io { context: format!("cannot listen on {what} {address}"), source };
        let mut last = None;
        for _ in 0..20 {
            let udp = UdpSocket::bind(address).await.map_err(|e| io("UDP", e))?;
            let port = udp.local_addr()?.port();
            match TcpListener::bind(SocketAddr::new(address.ip(), port)).await {
                Ok(tcp) => return Ok(Listeners { udp: Arc::new(udp), tcp }),
                // A free UDP port whose TCP twin is taken: pick again.
                Err(e) if address.port() == 0 => last = Some(e),
                Err(e) => return Err(io("TCP", e)),
            }
        }
        Err(io("TCP", last.unwrap_or_else(|| std::io::Error::other("no free port"))))
    }

    /// The address both listen on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// Answers questions until `shutdown` completes.
    pub async fn serve<D: Directory + Send + Sync + 'static>(self, handler: Handler<D>, shutdown: impl std::future::Future<Output = ()>) -> Result<(), crate::Error> {
        let handler = Arc::new(handler);
        let udp = serve_udp(self.udp, handler.clone());
        let tcp = serve_tcp(self.tcp, handler);
        tokio::select! {
            _ = udp => Ok(()),
            _ = tcp => Ok(()),
            _ = shutdown => Ok(()),
        }
    }
}

async fn serve_udp<D: Directory + Send + Sync + 'static>(socket: Arc<UdpSocket>, handler: Arc<Handler<D>>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                tracing::debug!(error = %e, "cluster DNS: UDP receive failed");
                continue;
            }
        };
        let question = buf[..n].to_vec();
        let (socket, handler) = (socket.clone(), handler.clone());
        tokio::spawn(async move {
            if let Some(reply) = handler.answer(&question, Transport::Udp).await
                && let Err(e) = socket.send_to(&reply, from).await
            {
                tracing::debug!(%from, error = %e, "cluster DNS: UDP send failed");
            }
        });
    }
}

async fn serve_tcp<D: Directory + Send + Sync + 'static>(listener: TcpListener, handler: Arc<Handler<D>>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let handler = handler.clone();
                tokio::spawn(async move {
                    if let Err(e) = tcp_connection(stream, &handler).await {
                        tracing::debug!(error = %e, "cluster DNS: TCP connection ended");
                    }
                });
            }
            Err(e) => tracing::debug!(error = %e, "cluster DNS: TCP accept failed"),
        }
    }
}

/// Length-prefixed questions and answers (RFC 1035 section 4.2.2) until EOF or idleness.
async fn tcp_connection<D: Directory>(mut stream: TcpStream, handler: &Handler<D>) -> std::io::Result<()> {
    loop {
        let len = match tokio::time::timeout(TCP_IDLE, stream.read_u16()).await {
            Ok(Ok(len)) => len as usize,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        };
        let mut question = vec![0; len];
        tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut question)).await.map_err(|_| std::io::ErrorKind::TimedOut)??;
        let Some(reply) = handler.answer(&question, Transport::Tcp).await else { return Ok(()) };
        let Ok(reply_len) = u16::try_from(reply.len()) else { return Ok(()) };
        let mut framed = reply_len.to_be_bytes().to_vec();
        framed.extend_from_slice(&reply);
        stream.write_all(&framed).await?;
    }
}

/// The transport a question came over (UDP answers are size-limited).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transport {
    /// Datagrams: at most 512 bytes, or what the client's EDNS says.
    Udp,
    /// A stream: any size up to 65535.
    Tcp,
}

/// Turns questions into answers.
pub struct Handler<D> {
    zone: Zone,
    directory: D,
    upstreams: Upstreams,
}

impl<D: Directory> Handler<D> {
    /// Answers names of `zone` from `directory` and forwards the rest to `upstreams`.
    pub fn new(zone: Zone, directory: D, upstreams: Upstreams) -> Handler<D> {
        Handler { zone, directory, upstreams }
    }

    /// The wire-format answer to the wire-format `question`, or None for what deserves
    /// no answer (not a query, not even a header).
    pub async fn answer(&self, question: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let request = match Message::from_vec(question) {
            Ok(request) => request,
            Err(_) if question.len() >= 12 && question[2] & 0x80 == 0 => {
                let id = u16::from_be_bytes([question[0], question[1]]);
                return Message::error_msg(id, OpCode::Query, ResponseCode::FormErr).to_vec().ok();
            }
            Err(_) => return None,
        };
        if request.metadata.message_type != MessageType::Query {
            return None;
        }
        let reply = self.reply(&request, question).await;
        let limit = match transport {
            Transport::Udp => request.max_payload() as usize,
            Transport::Tcp => u16::MAX as usize,
        };
        if reply.len() <= limit {
            return Some(reply);
        }
        let Ok(full) = Message::from_vec(&reply) else { return Some(reply) };
        full.truncate().to_vec().ok()
    }

    async fn reply(&self, request: &Message, raw: &[u8]) -> Vec<u8> {
        let mut response = Message::new(request.metadata.id, MessageType::Response, request.metadata.op_code);
        response.metadata = Metadata::response_from_request(&request.metadata);
        if request.edns.is_some() {
            let mut edns = Edns::new();
            edns.set_max_payload(EDNS_PAYLOAD);
            response.set_edns(edns);
        }
        let query = match (request.metadata.op_code, request.queries.as_slice()) {
            (OpCode::Query, [query]) => query.clone(),
            (OpCode::Query, _) => return encode(error(response, ResponseCode::FormErr)),
            _ => return encode(error(response, ResponseCode::NotImp)),
        };
        response.add_query(query.clone());
        match records::resolve(&self.directory, &self.zone, query.name(), query.query_type()) {
            Outcome::Forward => match self.upstreams.exchange(raw).await {
                Some(reply) => reply,
                None => encode(error(response, ResponseCode::ServFail)),
            },
            Outcome::Refused => encode(error(response, ResponseCode::Refused)),
            Outcome::NotReady => encode(error(response, ResponseCode::ServFail)),
            Outcome::Answer(answer) => {
                response.metadata.authoritative = true;
                response.metadata.response_code = answer.rcode;
                response.add_answers(answer.answers);
                if let Some(target) = answer.chase {
                    response.add_answers(self.chase(target, query.query_type()).await);
                }
                response.add_authorities(answer.authorities);
                response.add_additionals(answer.additionals);
                encode(response)
            }
        }
    }

    /// The upstream's answers for `target` (an ExternalName's CNAME target): none when
    /// nobody answers, and the client still gets the CNAME.
    async fn chase(&self, target: Name, qtype: RecordType) -> Vec<hickory_proto::rr::Record> {
        let mut query = Message::query();
        query.metadata.recursion_desired = true;
        query.add_query(Query::query(target, qtype));
        let Ok(bytes) = query.to_vec() else { return vec![] };
        let Some(reply) = self.upstreams.exchange(&bytes).await else { return vec![] };
        Message::from_vec(&reply).map(|m| m.answers).unwrap_or_default()
    }
}

fn error(mut response: Message, code: ResponseCode) -> Message {
    response.metadata.response_code = code;
    response
}

fn encode(message: Message) -> Vec<u8> {
    message.to_vec().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cluster DNS: cannot encode an answer");
        let mut failure = Message::error_msg(message.metadata.id, message.metadata.op_code, ResponseCode::ServFail);
        failure.add_queries(message.queries.iter().cloned());
        failure.to_vec().unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::test_data::{data, slice, zone, Data};
    use hickory_proto::rr::RData;
    use serde_json::json;

    fn question(name: &str, qtype: RecordType, edns: Option<u16>) -> Message {
        let mut query = Message::query();
        query.metadata.recursion_desired = true;
        query.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        if let Some(size) = edns {
            let mut e = Edns::new();
            e.set_max_payload(size);
            query.set_edns(e);
        }
        query
    }

    async fn ask_udp(server: SocketAddr, query: &Message) -> Message {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.send_to(&query.to_vec().unwrap(), server).await.unwrap();
        let mut buf = vec![0; 65535];
        let (n, _) = tokio::time::timeout(Duration::from_secs(10), socket.recv_from(&mut buf)).await.expect("an answer").unwrap();
        Message::from_vec(&buf[..n]).unwrap()
    }

    async fn ask_tcp(server: SocketAddr, query: &Message) -> Message {
        let mut stream = TcpStream::connect(server).await.unwrap();
        let bytes = query.to_vec().unwrap();
        stream.write_u16(bytes.len() as u16).await.unwrap();
        stream.write_all(&bytes).await.unwrap();
        let len = stream.read_u16().await.unwrap();
        let mut reply = vec![0; len as usize];
        stream.read_exact(&mut reply).await.unwrap();
        Message::from_vec(&reply).unwrap()
    }

    /// A server on 127.0.0.1:0 over `data`, forwarding to `upstreams`.
    async fn start(data: Data, upstreams: Upstreams) -> SocketAddr {
        let listeners = Listeners::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listeners.local_addr().unwrap();
        tokio::spawn(listeners.serve(Handler::new(zone(), data, upstreams), std::future::pending()));
        addr
    }

    fn addresses(m: &Message) -> Vec<String> {
        m.answers.iter().map(|r| r.data.to_string()).collect()
    }

    #[tokio::test]
    async fn answers_cluster_names_over_udp_and_tcp() {
        let server = start(data(), Upstreams::default()).await;
        let q = question("web.default.svc.cluster.local.", RecordType::A, None);
        for reply in [ask_udp(server, &q).await, ask_tcp(server, &q).await] {
            assert_eq!(reply.metadata.id, q.metadata.id);
            assert_eq!(reply.metadata.message_type, MessageType::Response);
            assert!(reply.metadata.authoritative && reply.metadata.recursion_desired);
            assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
            assert_eq!(reply.queries, q.queries);
            assert_eq!(addresses(&reply), ["10.96.0.20"]);
        }
        let reply = ask_udp(server, &question("nope.default.svc.cluster.local.", RecordType::A, None)).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
        assert!(matches!(reply.authorities[0].data, RData::SOA(_)));
        // With EDNS, the answer has an OPT record too.
        let reply = ask_udp(server, &question("web.default.svc.cluster.local.", RecordType::A, Some(4096))).await;
        assert_eq!(reply.edns.map(|e| e.max_payload()), Some(EDNS_PAYLOAD));
    }

    #[tokio::test]
    async fn large_udp_answers_are_truncated_unless_edns_allows_them() {
        let mut d = data();
        let endpoints: Vec<_> = (1..=60).map(|i| json!({"addresses": [format!("10.244.1.{i}")]})).collect();
        d.slices.push(slice(json!({"metadata": {"name": "db-big", "namespace": "default", "labels": {"kubernetes.io/service-name": "db"}}, "addressType": "IPv4", "endpoints": endpoints})));
        let server = start(d, Upstreams::default()).await;
        let q = question("db.default.svc.cluster.local.", RecordType::A, None);
        let reply = ask_udp(server, &q).await;
        assert!(reply.metadata.truncation, "60 A records do not fit 512 bytes");
        assert!(reply.answers.is_empty());
        assert_eq!(reply.metadata.id, q.metadata.id);
        let reply = ask_tcp(server, &q).await;
        assert!(!reply.metadata.truncation);
        assert_eq!(reply.answers.len(), 62);
        let reply = ask_udp(server, &question("db.default.svc.cluster.local.", RecordType::A, Some(4096))).await;
        assert!(!reply.metadata.truncation);
        assert_eq!(reply.answers.len(), 62);
    }

    /// Another local server stands in for the host's nameserver.
    #[tokio::test]
    async fn other_names_are_forwarded_and_external_names_chased() {
        let upstream = Listeners::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        let mut outside = data();
        outside.services.push(crate::records::test_data::service(json!({"metadata": {"name": "example", "namespace": "default"}, "spec": {"clusterIP": "10.96.0.99", "ports": [{"port": 80}]}})));
        let outside_zone = Zone::new("com", "10.96.0.10".parse().unwrap()).unwrap();
        tokio::spawn(upstream.serve(Handler::new(outside_zone, outside, Upstreams::default()), std::future::pending()));
        let server = start(data(), Upstreams::new(vec![upstream_addr])).await;
        // The upstream serves `com` from the same data: svc.default.example.com... is
        // not a name there, but `example.default.svc.com` is.
        let reply = ask_udp(server, &question("example.default.svc.com.", RecordType::A, None)).await;
        assert_eq!(addresses(&reply), ["10.96.0.99"]);
        assert!(reply.metadata.authoritative, "the upstream's answer as it gave it");
        let reply = ask_udp(server, &question("nope.default.svc.com.", RecordType::A, None)).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
        // Reverse names the cluster does not know are the upstream's.
        let reply = ask_udp(server, &question("99.0.96.10.in-addr.arpa.", RecordType::PTR, None)).await;
        assert_eq!(addresses(&reply), ["example.default.svc.com."]);
        // Nobody upstream: SERVFAIL.
        let lonely = start(data(), Upstreams::default()).await;
        let reply = ask_udp(lonely, &question("example.default.svc.com.", RecordType::A, None)).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
        // An ExternalName to a name upstream: the CNAME, then the upstream's records.
        let mut d = data();
        d.services.push(crate::records::test_data::service(json!({"metadata": {"name": "out", "namespace": "default"}, "spec": {"type": "ExternalName", "externalName": "example.default.svc.com"}})));
        let server = start(d, Upstreams::new(vec![upstream_addr])).await;
        let reply = ask_udp(server, &question("out.default.svc.cluster.local.", RecordType::A, None)).await;
        assert_eq!(addresses(&reply), ["example.default.svc.com.", "10.96.0.99"]);
    }

    #[tokio::test]
    async fn malformed_and_unsupported_questions() {
        let handler = Handler::new(zone(), data(), Upstreams::default());
        let garbage = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff];
        let reply = Message::from_vec(&handler.answer(&garbage, Transport::Udp).await.unwrap()).unwrap();
        assert_eq!((reply.metadata.id, reply.metadata.response_code), (0x1234, ResponseCode::FormErr));
        assert_eq!(handler.answer(&[1, 2, 3], Transport::Udp).await, None);
        let mut notify = question("web.default.svc.cluster.local.", RecordType::SOA, None);
        notify.metadata.op_code = OpCode::Notify;
        let reply = Message::from_vec(&handler.answer(&notify.to_vec().unwrap(), Transport::Udp).await.unwrap()).unwrap();
        assert_eq!(reply.metadata.response_code, ResponseCode::NotImp);
        let mut response = question("web.default.svc.cluster.local.", RecordType::A, None);
        response.metadata.message_type = MessageType::Response;
        assert_eq!(handler.answer(&response.to_vec().unwrap(), Transport::Udp).await, None, "answers are not answered");
    }
}
