//! An HTTP checkout API over an [`Inventory`]: JSON in and out, every typed refusal of the
//! inventory as a status code and a JSON error, the reaper as a tokio task.
//!
//! [`app`] builds the routes over one inventory; [`serve`] runs them on a listener with the
//! reaper beside them until a shutdown signal, then lets requests in progress finish. The
//! binary (`src/main.rs`) is `serve` on an address from the command line, stopped by Ctrl-C
//! or SIGTERM; `examples/load.rs` drives it with many concurrent clients.
//!
//! ```
//! use atomic_stock::{Inventory, Receipt};
//! use atomic_stock_service::client::Client;
//! use atomic_stock_service::{Decision, LineIn, NewItem, Outcome, Reserve};
//! use std::sync::Arc;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let addr = listener.local_addr().unwrap();
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(atomic_stock_service::serve(
//!     listener,
//!     Arc::new(Inventory::new()),
//!     async { stopped.await.ok(); },
//! ));
//!
//! let mut client = Client::connect(addr).await.unwrap();
//! let mug = NewItem { sku: "MUG-1".into(), quantity: 3 };
//! assert_eq!(client.post("/items", &mug).await.unwrap().status, 201);
//! let reserve = Reserve { cart: 7.into(), lines: vec![LineIn::sku("MUG-1", 2)], ttl_ms: 60_000 };
//! let receipt: Receipt = client.post("/reservations", &reserve).await.unwrap().json().unwrap();
//! let reply = client.post_empty(&format!("/reservations/{}/confirm", receipt.id)).await.unwrap();
//! assert_eq!(reply.json::<Decision>().unwrap().outcome, Outcome::Confirmed);
//!
//! drop(client);
//! stop.send(()).unwrap();
//! server.await.unwrap().unwrap();
//! # });
//! ```
//!
//! # Endpoints
//!
//! Items are named by their dense id (`{item}`, a number) or by SKU; reservations by the id a
//! reserve returned (`{id}`, the string `"{tag:08x}-{cart}-{seq}"` of the crate's wire form);
//! carts by their number (`{cart}`). A line is `{"item": 0, "quantity": 2}` or
//! `{"sku": "MUG-1", "quantity": 2}`; a time to live is `ttl_ms`, in milliseconds.
//!
//! | method and path | body | answer |
//! | --- | --- | --- |
//! | `POST /items` | [`NewItem`] `{"sku", "quantity"}` | 201 [`ItemView`] |
//! | `GET /items/{item}` | | [`ItemView`]: `item`, `sku`, `available`, `in_flight`, `held`, `sold`, `received` |
//! | `GET /skus/{sku}` | | [`ItemView`] |
//! | `POST /items/{item}/restock` | [`Restock`] `{"quantity"}` | [`ItemView`] |
//! | `POST /reservations` | [`Reserve`] `{"cart", "lines", "ttl_ms"}` | 201 receipt `{"id", "deadline_unix_ms"}` |
//! | `GET /reservations/{id}` | | [`Status`] `{"id", "state", "deadline_unix_ms"?, "lines"?}` |
//! | `POST /reservations/{id}/confirm` | | [`Decision`] `{"id", "outcome": "confirmed" \| "already_confirmed"}` |
//! | `POST /reservations/{id}/release` | | [`Decision`] `{"id", "outcome": "released"}` |
//! | `POST /reservations/{id}/release-lines` | [`ReleaseLines`] `{"lines"}` | [`Status`] after the release |
//! | `POST /reservations/{id}/extend` | [`Extend`] `{"ttl_ms"}` | receipt |
//! | `GET /carts/{cart}` | | [`Status`] of the cart's live reservation |
//! | `PUT /carts/{cart}` | [`SetCart`] `{"lines", "ttl_ms"}` | receipt |
//! | `POST /carts/{cart}/confirm` | | [`Decision`] `{"cart", "outcome"}` |
//! | `POST /carts/{cart}/release` | | [`Decision`] `{"cart", "outcome": "released"}` |
//! | `POST /carts/{cart}/extend` | [`Extend`] | receipt |
//! | `GET /audit` | | [`Audit`], or 500 `audit_failed` (meaningful with no request in progress) |
//!
//! # Errors
//!
//! Every error is a JSON [`ErrorBody`] `{"error": code, "message": text, ...detail}`:
//!
//! | status | `error` | detail |
//! | --- | --- | --- |
//! | 400 | `bad_json` (body is not JSON), `bad_path` (a malformed id) | |
//! | 404 | `unknown_item` | `item` |
//! | 404 | `unknown_sku` | `sku` |
//! | 404 | `unknown_reservation` (never issued here, or forgotten) | |
//! | 404 | `no_reservation` (the cart holds none) | `cart` |
//! | 404 | `no_route` | |
//! | 409 | `shortfall` | `item`, `sku`, `requested`, `available` |
//! | 409 | `confirmed`, `released`, `expired` (the reservation finished so) | `state` |
//! | 409 | `not_held` (a partial release of more than is held) | `item`, `requested`, `held` |
//! | 409 | `delisted` | `item` |
//! | 409 | `duplicate_sku` | `existing` |
//! | 415 | `not_json` (no `content-type: application/json`) | |
//! | 422 | `invalid_body` (JSON of the wrong shape), `invalid_line`, `empty_cart`, `too_many_lines`, `invalid_quantity`, `quantity_overflow`, `invalid_ttl`, `invalid_sku`, `overflow` | the offending values |
//! | 500 | `audit_failed` | the item's counts |
//! | 503 | `too_many_reservations`, `catalog_full` | `max` |
//!
//! Confirming twice answers 200 with `"outcome": "already_confirmed"`, as the inventory does.
//! Reserves and cart updates use [`Inventory::reserve_async`] and
//! [`Inventory::set_cart_async`], which never park a worker thread of the runtime and ask
//! again until the answer is decided; so [`TakeError::Busy`](atomic_stock::TakeError::Busy),
//! which [`ApiError::take`] maps to 503 `busy` with `Retry-After: 0`, is never an answer of
//! these routes.

#![deny(missing_docs)]
#![warn(rust_2018_idioms, unreachable_pub, missing_debug_implementations)]

mod api;
pub mod client;
mod error;

pub use api::{
    Audit, Decision, Extend, ItemView, LineIn, NewItem, Outcome, ReleaseLines, Reserve, Restock,
    SetCart, Status, WireState,
};
pub use error::{ApiError, ErrorBody};

use atomic_stock::Inventory;
use axum::routing::{get, post};
use axum::Router;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How often [`serve`]'s reaper task expires due reservations at least (it wakes sooner for
/// an earlier deadline it knows of).
pub const REAPER_TICK: Duration = Duration::from_millis(50);

/// The API's routes over `inventory` (see the crate docs for the table). Serve it with
/// `axum::serve`, or with [`serve`], which adds the reaper and graceful shutdown.
pub fn app(inventory: Arc<Inventory>) -> Router {
    Router::new()
        .route("/items", post(api::register))
        .route("/items/{item}", get(api::item))
        .route("/items/{item}/restock", post(api::restock))
        .route("/skus/{sku}", get(api::item_by_sku))
        .route("/reservations", post(api::reserve))
        .route("/reservations/{id}", get(api::status))
        .route("/reservations/{id}/confirm", post(api::confirm))
        .route("/reservations/{id}/release", post(api::release))
        .route("/reservations/{id}/release-lines", post(api::release_lines))
        .route("/reservations/{id}/extend", post(api::extend))
        .route("/carts/{cart}", get(api::cart).put(api::set_cart))
        .route("/carts/{cart}/confirm", post(api::confirm_cart))
        .route("/carts/{cart}/release", post(api::release_cart))
        .route("/carts/{cart}/extend", post(api::extend_cart))
        .route("/audit", get(api::audit))
        .fallback(api::no_route)
        .with_state(inventory)
}

/// Serves [`app`] on `listener` (connections with `TCP_NODELAY`) with
/// [`Inventory::reaper_task`] running beside it, until `shutdown` completes; then stops
/// accepting, lets the requests in progress finish, closes idle keep-alive connections, stops
/// the reaper and returns. Runs on the current tokio runtime.
pub async fn serve(
    listener: tokio::net::TcpListener,
    inventory: Arc<Inventory>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let reaper = tokio::spawn(inventory.reaper_task(REAPER_TICK));
    let listener = listener.tap_io(|stream| {
        // Nagle's algorithm only delays small responses; a failure leaves it on.
        let _ = stream.set_nodelay(true);
    });
    let served = axum::serve(listener, app(inventory))
        .with_graceful_shutdown(shutdown)
        .await;
    reaper.abort();
    served
}
