//! Upgrading hyper 1.x requests, and so axum's, which run on hyper (feature `hyper`).
//!
//! ```no_run
//! # use http_body_util::Full; use bytes::Bytes;
//! # async fn handle(mut request: http::Request<hyper::body::Incoming>) -> http::Response<Full<Bytes>> {
//! let upgrader = wsio_tokio::Upgrader::default();
//! match wsio_tokio::hyper::upgrade(&mut request, &upgrader) {
//!     Ok((response, upgrading)) => {
//!         tokio::spawn(async move {
//!             let mut ws = upgrading.await?;
//!             while let Some(message) = ws.recv().await {
//!                 ws.send(message?).await?;
//!             }
//!             Ok::<_, wsio_tokio::Error>(())
//!         });
//!         response
//!     }
//!     Err(rejection) => rejection,
//! }
//! # }
//! ```

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use wsio_core::Connection;

use crate::{Result, Upgrader, WebSocketStream, from_connection};

/// The stream of an upgraded hyper connection, as tokio I/O.
pub type UpgradedStream = TokioIo<Upgraded>;

/// Checks `request` with `upgrader`. A valid upgrade gives the `101 Switching Protocols`
/// response for the HTTP server to send and an [`Upgrading`] that yields the WebSocket once
/// hyper hands the connection over; anything else gives the rejection response (400, 403, 426,
/// ...) with a short text body. Bodies are built with `From<String>`, which hyper's and axum's
/// body types implement.
#[allow(clippy::result_large_err)]
pub fn upgrade<B, R: From<String>>(
    request: &mut http::Request<B>,
    upgrader: &Upgrader,
) -> std::result::Result<(http::Response<R>, Upgrading), http::Response<R>> {
    let accepted = match upgrader.upgrade_http(request) {
        Ok(accepted) => accepted,
        Err(rejection) => return Err(rejection.to_http_response_with_body()),
    };
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        // Not served by hyper (or already upgraded): nothing to take the connection from.
        let response = http::Response::builder()
            .status(http::StatusCode::INTERNAL_SERVER_ERROR)
            .body(R::from(
                "the HTTP server cannot upgrade this connection".to_owned(),
            ))
            .expect("a static response is valid");
        return Err(response);
    };
    // hyper keeps any bytes read past the request head inside `Upgraded`, so none are lost.
    let connection = upgrader.connection(&accepted, &[]);
    let response = accepted.to_http_response().map(|()| R::from(String::new()));
    Ok((
        response,
        Upgrading {
            on_upgrade,
            connection,
        },
    ))
}

/// An accepted upgrade waiting for hyper to hand over the connection; `.await` it (after the
/// response was returned to hyper) to get the WebSocket.
pub struct Upgrading {
    on_upgrade: OnUpgrade,
    connection: Connection,
}

impl std::fmt::Debug for Upgrading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgrading").finish_non_exhaustive()
    }
}

impl IntoFuture for Upgrading {
    type Output = Result<WebSocketStream<UpgradedStream>>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let upgraded = self.on_upgrade.await.map_err(std::io::Error::other)?;
            Ok(from_connection(self.connection, TokioIo::new(upgraded)))
        })
    }
}
