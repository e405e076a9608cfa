//! Client streams: plain TCP or (feature `rustls`) TLS.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use smol::net::TcpStream;

use crate::Result;

/// A client connection, plain or encrypted, as made by [`connect`](crate::connect).
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`.
    #[cfg(feature = "rustls")]
    Rustls(Box<futures_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTlsStream::Plain(s) => Pin::new(s).poll_close(cx),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => Pin::new(&mut **s).poll_close(cx),
        }
    }
}

#[cfg(feature = "rustls")]
pub(crate) async fn tls_stream(tcp: TcpStream, host: &str) -> Result<MaybeTlsStream> {
    tls::connect(tcp, host, tls::default_config()).await
}

#[cfg(not(feature = "rustls"))]
pub(crate) async fn tls_stream(_tcp: TcpStream, _host: &str) -> Result<MaybeTlsStream> {
    Err(wsio_core::handshake::HandshakeError::UnsupportedScheme(
        "wss (enable the `rustls` feature)".into(),
    )
    .into())
}

#[cfg(feature = "rustls")]
pub(crate) mod tls {
    use std::sync::Arc;

    use smol::net::TcpStream;

    use crate::{MaybeTlsStream, Result};

    /// A client configuration trusting the Mozilla root certificates (webpki-roots).
    pub fn default_config() -> Arc<rustls::ClientConfig> {
        wsio_core::tls::default_client_config()
    }

    /// Runs the TLS handshake to `host` over a connected socket.
    pub async fn connect(
        tcp: TcpStream,
        host: &str,
        config: Arc<rustls::ClientConfig>,
    ) -> Result<MaybeTlsStream> {
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let tls = futures_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await?;
        Ok(MaybeTlsStream::Rustls(Box::new(tls)))
    }

    /// Connects to a `wss://` URL with a TLS configuration of the caller's.
    pub async fn connect_with_config(
        url: &str,
        options: crate::ClientOptions,
        config: Arc<rustls::ClientConfig>,
    ) -> Result<(crate::WebSocketStream<MaybeTlsStream>, crate::Response)> {
        let handshake = crate::ClientHandshake::new(url, options)?;
        let host = handshake.url().host().to_owned();
        let tcp = TcpStream::connect((host.as_str(), handshake.url().port())).await?;
        tcp.set_nodelay(true)?;
        let stream = if handshake.needs_tls() {
            connect(tcp, &host, config).await?
        } else {
            MaybeTlsStream::Plain(tcp)
        };
        crate::client(stream, handshake).await
    }
}
