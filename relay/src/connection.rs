//! The life of a connection, whatever its dialect, written once: register in the hub (or be
//! refused at the user's device cap), let the dialect greet the client, catch up on the
//! personal stream, then pump frames both ways until the end; the registration unregisters
//! however the task ends. Wafer tunnels ([`crate::tunnel`]) and native connections
//! ([`crate::native`]) differ only in their [`Inbound`] and in who they say the client is.

use axum::extract::ws::Utf8Bytes;
use cometa_protocol::CloseCode;

use crate::conn::{self, Inbound, Io};
use crate::hub::Handle;
use crate::presence;

/// Serves `io` as `handle` until it ends; returns the close code. `first` is a frame read
/// before registration (a native request that was not `auth`), handled after the replay.
/// The personal stream's position is `io.cursor`, set by the caller.
pub async fn serve<H: Inbound + Send>(
    io: &mut Io,
    handle: Handle,
    inbound: &mut H,
    first: Option<Utf8Bytes>,
) -> u16 {
    let app = io.app.clone();
    let outbox = handle.outbox.clone();
    let Some(mut registration) = presence::connected(&app, handle).await else {
        Box::pin(inbound.refused(io)).await;
        io.close(CloseCode::TooManyDevices).await;
        return CloseCode::TooManyDevices.code();
    };
    registration.set_device(inbound.device());
    let _live = crate::metrics::connected(io.dialect);
    // The steps before the pump run once and are boxed: this future lives as long as the
    // connection, and it would otherwise be as large as the largest of them.
    let resumed = match Box::pin(inbound.started(io)).await {
        Ok(after) => Box::pin(crate::stream::resume_personal(io, after)).await,
        Err(e) => Err(e),
    };
    if let Err(e) = resumed {
        tracing::error!(error = %e, "personal replay failed");
        io.close(CloseCode::Shutdown).await;
        return CloseCode::Shutdown.code();
    }
    let code = match first {
        Some(text) => match Box::pin(conn::dispatch(io, inbound, text)).await {
            Some(code) => {
                io.close(code).await;
                code.code()
            }
            None => conn::pump(io, inbound, &outbox).await,
        },
        None => conn::pump(io, inbound, &outbox).await,
    };
    drop(registration);
    code
}
