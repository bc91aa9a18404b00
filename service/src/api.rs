//! The request and response bodies, and the handlers that turn one into the other through the
//! inventory's API.

use crate::error::ApiError;
use atomic_stock::{
    CartId, Confirmation, Inventory, ItemId, ItemLevels, Line, Receipt, ReservationId,
    ReservationInfo, ReservationState,
};
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The handlers' state: the one inventory every request works on.
pub(crate) type Shared = State<Arc<Inventory>>;

type Answer<T> = Result<Json<T>, ApiError>;

/// `POST /items`: register an item under a SKU.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewItem {
    /// The SKU, 1 to 256 bytes, not registered yet.
    pub sku: String,
    /// Initial units.
    pub quantity: i64,
}

/// `POST /items/{item}/restock`: units to add.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restock {
    /// Units to add (1 and above).
    pub quantity: i64,
}

/// An item and its levels, as `GET /items/{item}` and `GET /skus/{sku}` answer.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ItemView {
    /// The item's id.
    pub item: ItemId,
    /// Its SKU, if it was registered under one.
    pub sku: Option<String>,
    /// Its counts (`available`, `in_flight`, `held`, `sold`, `received`).
    #[serde(flatten)]
    pub levels: ItemLevels,
}

/// One line of a request: an item by id *or* by SKU, and a quantity.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineIn {
    /// The item by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<ItemId>,
    /// The item by SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// Units.
    pub quantity: i64,
}

impl LineIn {
    /// A line naming the item by id.
    pub fn item(item: ItemId, quantity: i64) -> Self {
        LineIn {
            item: Some(item),
            sku: None,
            quantity,
        }
    }

    /// A line naming the item by SKU.
    pub fn sku(sku: &str, quantity: i64) -> Self {
        LineIn {
            item: None,
            sku: Some(sku.to_owned()),
            quantity,
        }
    }
}

/// `POST /reservations`: reserve lines for a cart, all or nothing (added to the cart's
/// reservation if it holds one).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reserve {
    /// The cart.
    pub cart: CartId,
    /// The lines.
    pub lines: Vec<LineIn>,
    /// Time to live in milliseconds.
    pub ttl_ms: u64,
}

/// `PUT /carts/{cart}`: set the cart's reservation to exactly these lines.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetCart {
    /// The lines.
    pub lines: Vec<LineIn>,
    /// Time to live in milliseconds.
    pub ttl_ms: u64,
}

/// `POST /reservations/{id}/release-lines`: lines to give back.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseLines {
    /// The lines, each held in full.
    pub lines: Vec<LineIn>,
}

/// `POST /reservations/{id}/extend`, `POST /carts/{cart}/extend`: the new time to live.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extend {
    /// Time to live from now, in milliseconds.
    pub ttl_ms: u64,
}

/// The outcome of a confirm or release.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// This request confirmed the reservation.
    Confirmed,
    /// An earlier request had confirmed it; nothing changed.
    AlreadyConfirmed,
    /// This request released the reservation.
    Released,
}

/// What a confirm or release answers.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Decision {
    /// The reservation, when the request named it by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ReservationId>,
    /// The cart, when the request named the cart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart: Option<CartId>,
    /// What happened.
    pub outcome: Outcome,
}

/// A reservation's state on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireState {
    /// Stock is held until the deadline.
    Held,
    /// Sold.
    Confirmed,
    /// Released.
    Released,
    /// Its deadline passed.
    Expired,
}

impl From<ReservationState> for WireState {
    fn from(state: ReservationState) -> Self {
        match state {
            ReservationState::Held => WireState::Held,
            ReservationState::Confirmed => WireState::Confirmed,
            ReservationState::Released => WireState::Released,
            ReservationState::Expired => WireState::Expired,
        }
    }
}

/// Where a reservation is: `GET /reservations/{id}`, `GET /carts/{cart}`, and the answer to a
/// partial release. A held reservation shows its deadline and lines.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Status {
    /// The reservation.
    pub id: ReservationId,
    /// Its state.
    pub state: WireState,
    /// Its deadline, in milliseconds since the Unix epoch (as a receipt's), while held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_unix_ms: Option<u64>,
    /// The stock it holds, one line per item in ascending item order, while held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<Line>>,
}

impl From<ReservationInfo> for Status {
    fn from(info: ReservationInfo) -> Self {
        Status {
            id: info.id,
            state: info.state.into(),
            deadline_unix_ms: Some(unix_millis(info.deadline)),
            lines: Some(info.lines),
        }
    }
}

/// `GET /audit`: the totals [`Inventory::audit`] checked.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Audit {
    /// Items checked.
    pub items: usize,
    /// Live reservations.
    pub live_reservations: usize,
    /// Units available, over all items.
    pub available: i64,
    /// Units held, over all items.
    pub held: i64,
    /// Units sold, over all items.
    pub sold: i64,
}

/// A JSON body, refused in the API's error form ([`ApiError`]) when it does not parse.
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<T>::from_request(request, state).await?;
        Ok(Body(value))
    }
}

/// A path parameter, refused in the API's error form when it does not parse.
pub(crate) struct Param<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Param<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(value) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(Param(value))
    }
}

/// `deadline` as milliseconds since the Unix epoch, through the system clock now: the
/// conversion a [`Receipt`]'s wire form makes.
fn unix_millis(deadline: Instant) -> u64 {
    let now = Instant::now();
    let wall = match deadline.checked_duration_since(now) {
        Some(ahead) => SystemTime::now().checked_add(ahead),
        None => SystemTime::now().checked_sub(now.duration_since(deadline)),
    };
    wall.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The request's lines with every SKU resolved to its item.
fn lines(inventory: &Inventory, lines: &[LineIn]) -> Result<Vec<Line>, ApiError> {
    lines
        .iter()
        .enumerate()
        .map(|(index, line)| {
            let item = match (&line.item, &line.sku) {
                (Some(item), None) => *item,
                (None, Some(sku)) => inventory
                    .item_by_sku(sku)
                    .ok_or_else(|| ApiError::unknown_sku(sku))?,
                _ => return Err(ApiError::invalid_line(index)),
            };
            Ok(Line::new(item, line.quantity))
        })
        .collect()
}

fn item_view(inventory: &Inventory, item: ItemId) -> Result<ItemView, ApiError> {
    let levels = inventory
        .item(item)
        .ok_or_else(|| ApiError::unknown_item(item.get()))?;
    Ok(ItemView {
        item,
        sku: inventory.sku(item).map(str::to_owned),
        levels,
    })
}

pub(crate) async fn register(
    State(inventory): Shared,
    Body(new): Body<NewItem>,
) -> Result<(StatusCode, Json<ItemView>), ApiError> {
    let item = inventory
        .register_sku(&new.sku, new.quantity)
        .map_err(ApiError::catalog)?;
    Ok((StatusCode::CREATED, Json(item_view(&inventory, item)?)))
}

pub(crate) async fn item(State(inventory): Shared, Param(item): Param<u32>) -> Answer<ItemView> {
    Ok(Json(item_view(&inventory, ItemId::new(item))?))
}

pub(crate) async fn item_by_sku(
    State(inventory): Shared,
    Param(sku): Param<String>,
) -> Answer<ItemView> {
    let item = inventory
        .item_by_sku(&sku)
        .ok_or_else(|| ApiError::unknown_sku(&sku))?;
    Ok(Json(item_view(&inventory, item)?))
}

pub(crate) async fn restock(
    State(inventory): Shared,
    Param(item): Param<u32>,
    Body(restock): Body<Restock>,
) -> Answer<ItemView> {
    let item = ItemId::new(item);
    inventory
        .restock(item, restock.quantity)
        .map_err(ApiError::adjust)?;
    Ok(Json(item_view(&inventory, item)?))
}

pub(crate) async fn reserve(
    State(inventory): Shared,
    Body(request): Body<Reserve>,
) -> Result<(StatusCode, Json<Receipt>), ApiError> {
    let lines = lines(&inventory, &request.lines)?;
    let ttl = Duration::from_millis(request.ttl_ms);
    let receipt = inventory
        .reserve_async(request.cart, &lines, ttl)
        .await
        .map_err(|e| ApiError::reserve(e, &inventory))?;
    Ok((StatusCode::CREATED, Json(receipt)))
}

pub(crate) async fn set_cart(
    State(inventory): Shared,
    Param(cart): Param<u64>,
    Body(request): Body<SetCart>,
) -> Answer<Receipt> {
    let lines = lines(&inventory, &request.lines)?;
    let ttl = Duration::from_millis(request.ttl_ms);
    let receipt = inventory
        .set_cart_async(CartId::new(cart), &lines, ttl)
        .await
        .map_err(|e| ApiError::reserve(e, &inventory))?;
    Ok(Json(receipt))
}

fn confirmed(confirmation: Confirmation) -> Outcome {
    match confirmation {
        Confirmation::Confirmed => Outcome::Confirmed,
        Confirmation::AlreadyConfirmed => Outcome::AlreadyConfirmed,
    }
}

pub(crate) async fn confirm(
    State(inventory): Shared,
    Param(id): Param<ReservationId>,
) -> Answer<Decision> {
    let confirmation = inventory
        .confirm(id)
        .map_err(|e| ApiError::reservation(e, &inventory))?;
    Ok(Json(Decision {
        id: Some(id),
        cart: None,
        outcome: confirmed(confirmation),
    }))
}

pub(crate) async fn release(
    State(inventory): Shared,
    Param(id): Param<ReservationId>,
) -> Answer<Decision> {
    inventory
        .release(id)
        .map_err(|e| ApiError::reservation(e, &inventory))?;
    Ok(Json(Decision {
        id: Some(id),
        cart: None,
        outcome: Outcome::Released,
    }))
}

pub(crate) async fn release_lines(
    State(inventory): Shared,
    Param(id): Param<ReservationId>,
    Body(request): Body<ReleaseLines>,
) -> Answer<Status> {
    let lines = lines(&inventory, &request.lines)?;
    inventory
        .release_lines(id, &lines)
        .map_err(|e| ApiError::reservation(e, &inventory))?;
    status_of(&inventory, id).map(Json)
}

pub(crate) async fn extend(
    State(inventory): Shared,
    Param(id): Param<ReservationId>,
    Body(request): Body<Extend>,
) -> Answer<Receipt> {
    let receipt = inventory
        .extend(id, Duration::from_millis(request.ttl_ms))
        .map_err(|e| ApiError::reservation(e, &inventory))?;
    Ok(Json(receipt))
}

/// A reservation's status: its lines and deadline while held, its final state after.
fn status_of(inventory: &Inventory, id: ReservationId) -> Result<Status, ApiError> {
    if let Some(info) = inventory.reservation(id) {
        return Ok(info.into());
    }
    // Finished (or unknown) by now: the state is final.
    let state = inventory
        .status(id)
        .map_err(|e| ApiError::reservation(e, inventory))?;
    Ok(Status {
        id,
        state: state.into(),
        deadline_unix_ms: None,
        lines: None,
    })
}

pub(crate) async fn status(
    State(inventory): Shared,
    Param(id): Param<ReservationId>,
) -> Answer<Status> {
    status_of(&inventory, id).map(Json)
}

pub(crate) async fn cart(State(inventory): Shared, Param(cart): Param<u64>) -> Answer<Status> {
    let cart = CartId::new(cart);
    let info = inventory.cart(cart).ok_or_else(|| {
        ApiError::reservation(
            atomic_stock::ReservationError::NoReservation { cart },
            &inventory,
        )
    })?;
    Ok(Json(info.into()))
}

pub(crate) async fn confirm_cart(
    State(inventory): Shared,
    Param(cart): Param<u64>,
) -> Answer<Decision> {
    let cart = CartId::new(cart);
    let confirmation = inventory
        .confirm_cart(cart)
        .map_err(|e| ApiError::reservation(e, &inventory))?;
    Ok(Json(Decision {
        id: None,
        cart: Some(cart),
        outcome: confirmed(confirmation),
    }))
}

pub(crate) async fn release_cart(
    State(inventory): Shared,
    Param(cart): Param<u64>,
) -> Answer<Decision> {
    let cart = CartId::new(cart);
    inventory
        .release_cart(cart)
        .map_err(|e| ApiError::reservation(e, &inventory))?;
    Ok(Json(Decision {
        id: None,
        cart: Some(cart),
        outcome: Outcome::Released,
    }))
}

pub(crate) async fn extend_cart(
    State(inventory): Shared,
    Param(cart): Param<u64>,
    Body(request): Body<Extend>,
) -> Answer<Receipt> {
    let receipt = inventory
        .extend_cart(CartId::new(cart), Duration::from_millis(request.ttl_ms))
        .map_err(|e| ApiError::reservation(e, &inventory))?;
    Ok(Json(receipt))
}

/// The audit walks every item and live reservation, so it runs on the blocking pool.
pub(crate) async fn audit(State(inventory): Shared) -> Answer<Audit> {
    let report = tokio::task::spawn_blocking(move || inventory.audit())
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                e,
                serde_json::Value::Null,
            )
        })?
        .map_err(ApiError::audit)?;
    Ok(Json(Audit {
        items: report.items,
        live_reservations: report.live_reservations,
        available: report.available,
        held: report.held,
        sold: report.sold,
    }))
}

pub(crate) async fn no_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        "no such endpoint",
        serde_json::Value::Null,
    )
}
