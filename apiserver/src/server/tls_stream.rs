//! The server side of a TLS connection, with reads that first ask the socket.
//!
//! While hyper streams a response body (a watch), every wake-up of the connection also
//! polls a read, to notice a client that went away. Through `tokio_openssl` that poll is
//! an `SSL_read` down openssl's record layer to the socket's "would block", on every
//! event of every watcher (about a twelfth of the server's CPU in a 1,000-watcher
//! fan-out). Here a read first asks tokio whether the socket is readable, which registers
//! the same wake-up; openssl is only entered when the socket has data or openssl holds
//! decrypted bytes. (tokio forgets readiness only when a read would block, and openssl,
//! without read-ahead, reads the socket only once what it holds is used up, so the
//! `pending()` check is a guard rather than a path taken today.)

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

/// An accepted TLS stream (see the module documentation).
pub struct TlsStream(pub SslStream<TcpStream>);

impl AsyncRead for TlsStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let stream = &mut self.get_mut().0;
        if stream.ssl().pending() == 0 && stream.get_ref().poll_read_ready(cx).is_pending() {
            return Poll::Pending;
        }
        Pin::new(stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ssl::{SslAcceptor, SslConnector, SslMethod, SslVerifyMode};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// The server's certificates and TLS settings, and a listener on a free port.
    async fn server_side() -> (tempfile::TempDir, SslAcceptor, TcpListener, u16) {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::server::pki::Pki::new(dir.path());
        pki.ensure(&["localhost".into()]).unwrap();
        let acceptor = crate::server::tls_acceptor(&pki).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        (dir, acceptor, listener, port)
    }

    async fn accept(listener: &TcpListener, acceptor: &SslAcceptor) -> TlsStream {
        let (tcp, _) = listener.accept().await.unwrap();
        let ssl = openssl::ssl::Ssl::new(acceptor.context()).unwrap();
        let mut tls = SslStream::new(ssl, tcp).unwrap();
        Pin::new(&mut tls).accept().await.unwrap();
        TlsStream(tls)
    }

    /// A TLS client (HTTP/1.1 by ALPN) that does not check the server.
    async fn connect(port: u16) -> SslStream<TcpStream> {
        let mut connector = SslConnector::builder(SslMethod::tls_client()).unwrap();
        connector.set_verify(SslVerifyMode::NONE);
        connector.set_alpn_protos(b"\x08http/1.1").unwrap();
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let ssl = connector.build().configure().unwrap().into_ssl("localhost").unwrap();
        let mut tls = SslStream::new(ssl, tcp).unwrap();
        Pin::new(&mut tls).connect().await.unwrap();
        tls
    }

    /// Reads that wait for the socket still see every byte and the close: messages of
    /// every size, some of several records and some larger than the reader's buffer, each
    /// answered before the next is sent (a read that waited in vain would time out).
    #[tokio::test]
    async fn gated_reads_see_every_byte_and_the_close() {
        let (_dir, acceptor, listener, port) = server_side().await;
        let sizes = [1usize, 7, 1000, 4096, 16_384, 40_000, 3];
        let client = tokio::spawn(async move {
            let mut tls = connect(port).await;
            for (i, n) in sizes.iter().enumerate() {
                tls.write_all(&vec![i as u8; *n]).await.unwrap();
                tls.flush().await.unwrap();
                let mut ack = [0u8; 1];
                tls.read_exact(&mut ack).await.unwrap();
            }
            tls.shutdown().await.unwrap();
        });
        let mut stream = accept(&listener, &acceptor).await;
        let mut buf = [0u8; 1000];
        let wait = std::time::Duration::from_secs(10);
        for (i, n) in sizes.iter().enumerate() {
            let mut got = 0;
            while got < *n {
                let read = tokio::time::timeout(wait, stream.read(&mut buf)).await.expect("a read waited with bytes in openssl").unwrap();
                assert!(read > 0 && buf[..read].iter().all(|b| *b == i as u8), "message {i}: wrong bytes or an early end");
                got += read;
            }
            assert_eq!(got, *n, "message {i}");
            stream.write_all(b"k").await.unwrap();
        }
        let end = tokio::time::timeout(wait, stream.read(&mut buf)).await.expect("the close was not seen").unwrap();
        assert_eq!(end, 0);
        client.await.unwrap();
    }

    /// A client that leaves in the middle of a streamed response (a watch) is noticed
    /// with nothing more written to it: the server drops the response body, which is
    /// what ends a watcher's registration. A read that waited without a wake-up would
    /// keep the body until the next event.
    #[tokio::test]
    async fn a_client_leaving_a_streamed_response_is_noticed() {
        use hyper::body::Frame;
        let (_dir, acceptor, listener, port) = server_side().await;
        let (events, rx) = tokio::sync::mpsc::channel::<Result<Frame<bytes::Bytes>, std::convert::Infallible>>(1);
        let body = std::sync::Mutex::new(Some(http_body_util::StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx))));
        tokio::spawn(async move {
            let stream = accept(&listener, &acceptor).await;
            let service = hyper::service::service_fn(move |_| {
                let body = body.lock().unwrap().take().expect("one request");
                async move { Ok::<_, std::convert::Infallible>(hyper::Response::new(body)) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
        });
        let mut client = connect(port).await;
        client.write_all(b"GET /watch HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
        events.send(Ok(Frame::data(bytes::Bytes::from_static(b"first event\n")))).await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 512];
        while !String::from_utf8_lossy(&seen).contains("first event") {
            let n = client.read(&mut buf).await.unwrap();
            assert!(n > 0, "the response ended early");
            seen.extend_from_slice(&buf[..n]);
        }
        drop(client);
        tokio::time::timeout(std::time::Duration::from_secs(10), events.closed())
            .await
            .expect("the server kept the response of a client that had left");
    }
}
