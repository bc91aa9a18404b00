//! The API's errors: every typed refusal of the inventory, and every request the service cannot
//! read, as an HTTP status and a JSON body `{"error": code, "message": text, ...detail}`.

use atomic_stock::{
    AdjustError, AuditError, CatalogError, Inventory, ReservationError, ReserveError, TakeError,
};
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::fmt;

/// An error response's body: a stable machine-readable `error` code, a human-readable
/// `message`, and the facts of the refusal as further fields (`item`, `requested`,
/// `available`, ...; see the crate docs for each code's fields).
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error code, e.g. `shortfall` or `unknown_reservation`.
    pub error: String,
    /// What happened, for a person.
    pub message: String,
    /// The refusal's facts, by name.
    #[serde(flatten)]
    pub detail: Map<String, Value>,
}

/// An error the API answers with: a status code and an [`ErrorBody`].
#[derive(Clone, PartialEq, Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
}

impl ApiError {
    /// An error with `status`, `code` and `message`, and the fields of `detail` (a JSON
    /// object; anything else adds no field).
    pub fn new(status: StatusCode, code: &str, message: impl fmt::Display, detail: Value) -> Self {
        let detail = match detail {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        ApiError {
            status,
            body: ErrorBody {
                error: code.to_owned(),
                message: message.to_string(),
                detail,
            },
        }
    }

    /// A refused reserve or cart update. A shortfall names the item's SKU too, if it has one.
    pub fn reserve(error: ReserveError, inventory: &Inventory) -> Self {
        match error {
            ReserveError::Stock(take) => Self::take(take, inventory),
            ReserveError::InvalidTtl { ttl } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_ttl",
                error,
                json!({ "ttl_ms": ttl.as_millis() as u64 }),
            ),
            ReserveError::TooManyReservations { max } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_reservations",
                error,
                json!({ "max": max }),
            ),
            other => Self::refused(other),
        }
    }

    /// A refused take: bad lines (422), an unknown item (404), a shortfall or a delisted item
    /// (409), or undecided within the wait bound (503).
    pub fn take(error: TakeError, inventory: &Inventory) -> Self {
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        match error {
            TakeError::Shortfall {
                item,
                requested,
                available,
            } => Self::new(
                StatusCode::CONFLICT,
                "shortfall",
                error,
                json!({
                    "item": item,
                    "sku": inventory.sku(item),
                    "requested": requested,
                    "available": available,
                }),
            ),
            TakeError::UnknownItem { item } => Self::new(
                StatusCode::NOT_FOUND,
                "unknown_item",
                error,
                json!({ "item": item }),
            ),
            TakeError::Delisted { item } => Self::new(
                StatusCode::CONFLICT,
                "delisted",
                error,
                json!({ "item": item }),
            ),
            TakeError::Busy { item } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                error,
                json!({ "item": item }),
            ),
            TakeError::EmptyCart => Self::new(unprocessable, "empty_cart", error, Value::Null),
            TakeError::TooManyLines { lines, max } => Self::new(
                unprocessable,
                "too_many_lines",
                error,
                json!({ "lines": lines, "max": max }),
            ),
            TakeError::InvalidQuantity { item, quantity } => Self::new(
                unprocessable,
                "invalid_quantity",
                error,
                json!({ "item": item, "quantity": quantity }),
            ),
            TakeError::QuantityOverflow { item } => Self::new(
                unprocessable,
                "quantity_overflow",
                error,
                json!({ "item": item }),
            ),
            other => Self::refused(other),
        }
    }

    /// A refused confirm, release, partial release or extend: unknown (404), finished or not
    /// held (409), bad input (422).
    pub fn reservation(error: ReservationError, inventory: &Inventory) -> Self {
        let conflict = |state: &str| {
            Self::new(
                StatusCode::CONFLICT,
                state,
                error,
                json!({ "state": state }),
            )
        };
        match error {
            ReservationError::Unknown => Self::new(
                StatusCode::NOT_FOUND,
                "unknown_reservation",
                error,
                Value::Null,
            ),
            ReservationError::NoReservation { cart } => Self::new(
                StatusCode::NOT_FOUND,
                "no_reservation",
                error,
                json!({ "cart": cart }),
            ),
            ReservationError::Confirmed => conflict("confirmed"),
            ReservationError::Released => conflict("released"),
            ReservationError::Expired => conflict("expired"),
            ReservationError::InvalidTtl { ttl } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_ttl",
                error,
                json!({ "ttl_ms": ttl.as_millis() as u64 }),
            ),
            ReservationError::NotHeld {
                item,
                requested,
                held,
            } => Self::new(
                StatusCode::CONFLICT,
                "not_held",
                error,
                json!({ "item": item, "requested": requested, "held": held }),
            ),
            ReservationError::Lines(take) => Self::take(take, inventory),
            other => Self::refused(other),
        }
    }

    /// A refused registration: a SKU already taken (409), bad input (422), a full catalog
    /// (503).
    pub fn catalog(error: CatalogError) -> Self {
        match error {
            CatalogError::DuplicateSku { existing } => Self::new(
                StatusCode::CONFLICT,
                "duplicate_sku",
                &error,
                json!({ "existing": existing }),
            ),
            CatalogError::InvalidSku { len } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_sku",
                &error,
                json!({ "len": len }),
            ),
            CatalogError::InvalidQuantity { quantity } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_quantity",
                &error,
                json!({ "quantity": quantity }),
            ),
            CatalogError::CatalogFull { max } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "catalog_full",
                &error,
                json!({ "max": max }),
            ),
            other => Self::refused(other),
        }
    }

    /// A refused restock: an unknown item (404), a bad quantity or one that does not fit
    /// (422).
    pub fn adjust(error: AdjustError) -> Self {
        match error {
            AdjustError::UnknownItem { item } => Self::unknown_item(item.get()),
            AdjustError::InvalidQuantity { item, quantity } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_quantity",
                error,
                json!({ "item": item, "quantity": quantity }),
            ),
            AdjustError::Overflow {
                item,
                on_hand,
                quantity,
            } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "overflow",
                error,
                json!({ "item": item, "on_hand": on_hand, "quantity": quantity }),
            ),
            other => Self::refused(other),
        }
    }

    /// An audit that found an item whose ledger does not add up (500: never expected).
    pub fn audit(error: AuditError) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "audit_failed",
            error,
            json!({
                "item": error.item,
                "received": error.received,
                "available": error.available,
                "in_flight": error.in_flight,
                "held": error.held,
                "sold": error.sold,
            }),
        )
    }

    /// No item with this id (404).
    pub fn unknown_item(item: u32) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_item",
            format_args!("item #{item} is not in the catalog"),
            json!({ "item": item }),
        )
    }

    /// No item under this SKU (404).
    pub fn unknown_sku(sku: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_sku",
            format_args!("no item has the SKU {sku:?}"),
            json!({ "sku": sku }),
        )
    }

    /// A request line that names neither an item nor a SKU, or both (422).
    pub fn invalid_line(index: usize) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_line",
            format_args!("line {index} must name exactly one of \"item\" and \"sku\""),
            json!({ "line": index }),
        )
    }

    /// A refusal of a kind this version of the service does not know by name (422).
    fn refused(error: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            error,
            Value::Null,
        )
    }
}

impl From<JsonRejection> for ApiError {
    /// A body that is not JSON (400), JSON of the wrong shape (422), or not declared as JSON
    /// (415).
    fn from(rejection: JsonRejection) -> Self {
        let code = match rejection {
            JsonRejection::JsonSyntaxError(_) => "bad_json",
            JsonRejection::JsonDataError(_) => "invalid_body",
            JsonRejection::MissingJsonContentType(_) => "not_json",
            _ => "bad_body",
        };
        Self::new(rejection.status(), code, rejection.body_text(), Value::Null)
    }
}

impl From<PathRejection> for ApiError {
    /// A path parameter that does not parse (a malformed reservation id, a cart id that is
    /// not a number): 400.
    fn from(rejection: PathRejection) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_path",
            rejection.body_text(),
            Value::Null,
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = self.status == StatusCode::SERVICE_UNAVAILABLE && self.body.error == "busy";
        let mut response = (self.status, Json(self.body)).into_response();
        if retry {
            // Undecided, nothing taken: asking again at once may succeed.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("0"));
        }
        response
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.body.error,
            self.body.message
        )
    }
}

impl std::error::Error for ApiError {}
