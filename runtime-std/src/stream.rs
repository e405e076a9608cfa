//! What the blocking adapter needs from a transport beyond `Read + Write`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// A blocking byte stream the adapter can drive.
///
/// Besides reading and writing, the adapter must bound how long a read blocks: that is how the
/// close timeout and heartbeats fire while the application waits for a message. Implemented
/// for `TcpStream`, Unix sockets and (feature `rustls`) TLS streams over TCP.
pub trait Stream: Read + Write {
    /// Makes the next reads block for at most `timeout` (`None`: without limit).
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;

    /// Ends the transport in both directions, so the peer sees the end of the stream.
    fn shutdown(&mut self) -> io::Result<()>;
}

/// A stream that can be duplicated into a reading and a writing handle, for
/// [`WebSocket::split`](crate::WebSocket::split).
pub trait TryClone: Stream + Sized {
    /// A second handle to the same transport.
    fn try_clone(&self) -> io::Result<Self>;
}

impl Stream for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn shutdown(&mut self) -> io::Result<()> {
        TcpStream::shutdown(self, Shutdown::Both)
    }
}

impl TryClone for TcpStream {
    fn try_clone(&self) -> io::Result<Self> {
        TcpStream::try_clone(self)
    }
}

#[cfg(unix)]
impl Stream for std::os::unix::net::UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)
    }

    fn shutdown(&mut self) -> io::Result<()> {
        std::os::unix::net::UnixStream::shutdown(self, Shutdown::Both)
    }
}

#[cfg(unix)]
impl TryClone for std::os::unix::net::UnixStream {
    fn try_clone(&self) -> io::Result<Self> {
        std::os::unix::net::UnixStream::try_clone(self)
    }
}

#[cfg(feature = "rustls")]
impl<C, D> Stream for rustls::StreamOwned<C, TcpStream>
where
    C: std::ops::DerefMut<Target = rustls::ConnectionCommon<D>>,
    D: rustls::SideData,
{
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }

    fn shutdown(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        // Best effort: the close_notify alert, then the socket.
        let _ = self.conn.complete_io(&mut self.sock);
        self.sock.shutdown(Shutdown::Both)
    }
}

/// A client connection, plain or (feature `rustls`) encrypted, as made by
/// [`connect`](crate::connect).
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`.
    #[cfg(feature = "rustls")]
    Rustls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for MaybeTlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.read(buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.read(buf),
        }
    }
}

impl Write for MaybeTlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.write(buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.write_vectored(bufs),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.flush(),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.flush(),
        }
    }
}

impl Stream for MaybeTlsStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => Stream::set_read_timeout(s, timeout),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => Stream::set_read_timeout(&mut **s, timeout),
        }
    }

    fn shutdown(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => Stream::shutdown(s),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => Stream::shutdown(&mut **s),
        }
    }
}

impl TryClone for MaybeTlsStream {
    /// Only plain TCP can be duplicated; a TLS session has one state and cannot be split this
    /// way.
    fn try_clone(&self) -> io::Result<Self> {
        match self {
            MaybeTlsStream::Plain(s) => Ok(MaybeTlsStream::Plain(s.try_clone()?)),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a TLS stream cannot be split",
            )),
        }
    }
}
