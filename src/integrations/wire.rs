//! The wire form of the values an order service stores or sends to another process (feature
//! `serde`). The forms, and the promise that they stay readable, are documented in the crate
//! docs ("Wire form"); this module implements the two that are not plain derives: the
//! reservation id (a string or 20 bytes) and the receipt (its `Instant` deadline as Unix
//! milliseconds).

use crate::reservation::{CartId, Receipt, ReservationId};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Bytes of a reservation id in binary formats.
const ID_BYTES: usize = 20;

/// Longest human-readable id: 8 hex digits, two dashes, two `u64`s of 20 digits each.
const ID_TEXT_MAX: usize = 8 + 1 + 20 + 1 + 20;

impl Serialize for ReservationId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_bytes(&self.to_bytes())
        }
    }
}

impl<'de> Deserialize<'de> for ReservationId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(IdVisitor)
        } else {
            deserializer.deserialize_bytes(IdVisitor)
        }
    }
}

struct IdVisitor;

impl<'de> Visitor<'de> for IdVisitor {
    type Value = ReservationId;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a reservation id: \"{tag:08x}-{cart}-{seq}\" or 20 bytes")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<ReservationId, E> {
        parse_id(text).ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<ReservationId, E> {
        let bytes: [u8; ID_BYTES] = bytes
            .try_into()
            .map_err(|_| E::invalid_length(bytes.len(), &self))?;
        Ok(ReservationId::from_bytes(bytes))
    }

    /// Binary formats without a bytes type (and serde's own buffering, for a reservation id
    /// inside an untagged or flattened enum) hand the bytes over as a sequence.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ReservationId, A::Error> {
        let mut bytes = [0u8; ID_BYTES];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = seq
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(i, &self))?;
        }
        if seq.next_element::<u8>()?.is_some() {
            return Err(de::Error::invalid_length(ID_BYTES + 1, &self));
        }
        Ok(ReservationId::from_bytes(bytes))
    }
}

/// Parses the `Display` form, `{tag:08x}-{cart}-{seq}`, and nothing else (no sign, no
/// whitespace, no upper-case tag), so that every id has exactly one text.
fn parse_id(text: &str) -> Option<ReservationId> {
    if text.len() > ID_TEXT_MAX {
        return None;
    }
    let mut parts = text.split('-');
    let (tag, cart, seq) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let hex = |s: &str| s.len() == 8 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let decimal = |s: &str| {
        let canonical = s == "0" || !s.starts_with('0');
        !s.is_empty() && canonical && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !(hex(tag) && decimal(cart) && decimal(seq)) {
        return None;
    }
    Some(ReservationId::new(
        CartId::new(cart.parse().ok()?),
        seq.parse().ok()?,
        u32::from_str_radix(tag, 16).ok()?,
    ))
}

/// Field names of a receipt on the wire.
const RECEIPT_FIELDS: &[&str] = &["id", "deadline_unix_ms"];

impl Serialize for Receipt {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut receipt = serializer.serialize_struct("Receipt", RECEIPT_FIELDS.len())?;
        receipt.serialize_field("id", &self.id)?;
        receipt.serialize_field("deadline_unix_ms", &unix_millis(self.deadline))?;
        receipt.end()
    }
}

impl<'de> Deserialize<'de> for Receipt {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct("Receipt", RECEIPT_FIELDS, ReceiptVisitor)
    }
}

struct ReceiptVisitor;

impl ReceiptVisitor {
    fn receipt<E: de::Error>(id: ReservationId, deadline_unix_ms: u64) -> Result<Receipt, E> {
        let deadline = instant_of(deadline_unix_ms).ok_or_else(|| {
            E::invalid_value(
                de::Unexpected::Unsigned(deadline_unix_ms),
                &"a deadline this process can represent",
            )
        })?;
        Ok(Receipt { id, deadline })
    }
}

impl<'de> Visitor<'de> for ReceiptVisitor {
    type Value = Receipt;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a receipt: {id, deadline_unix_ms}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Receipt, A::Error> {
        let id = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let millis = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        Self::receipt(id, millis)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Receipt, A::Error> {
        let (mut id, mut millis) = (None, None);
        while let Some(key) = map.next_key::<ReceiptField>()? {
            match key {
                ReceiptField::Id if id.is_some() => return Err(de::Error::duplicate_field("id")),
                ReceiptField::Id => id = Some(map.next_value()?),
                ReceiptField::Deadline if millis.is_some() => {
                    return Err(de::Error::duplicate_field("deadline_unix_ms"))
                }
                ReceiptField::Deadline => millis = Some(map.next_value()?),
            }
        }
        let id = id.ok_or_else(|| de::Error::missing_field("id"))?;
        let millis = millis.ok_or_else(|| de::Error::missing_field("deadline_unix_ms"))?;
        Self::receipt(id, millis)
    }
}

/// A receipt's field name; unknown fields are an error (a receipt is small and exact).
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ReceiptField {
    Id,
    #[serde(rename = "deadline_unix_ms")]
    Deadline,
}

/// `deadline` as milliseconds since the Unix epoch, through the system clock now. A deadline
/// before the epoch (a system clock set far back) is 0.
fn unix_millis(deadline: Instant) -> u64 {
    let (instant_now, system_now) = (Instant::now(), SystemTime::now());
    let wall = match deadline.checked_duration_since(instant_now) {
        Some(ahead) => system_now.checked_add(ahead),
        None => system_now.checked_sub(instant_now.duration_since(deadline)),
    };
    wall.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The instant at `millis` since the Unix epoch, through the system clock now; `None` if this
/// process cannot represent it (`Instant` has a platform-dependent range).
fn instant_of(millis: u64) -> Option<Instant> {
    let wall = UNIX_EPOCH.checked_add(Duration::from_millis(millis))?;
    let (instant_now, system_now) = (Instant::now(), SystemTime::now());
    match wall.duration_since(system_now) {
        Ok(ahead) => instant_now.checked_add(ahead),
        Err(behind) => instant_now.checked_sub(behind.duration()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_exactly_the_display_form() {
        let id = ReservationId::new(CartId::new(42), 7 << 8 | 3, 0x0bad_f00d);
        assert_eq!(parse_id(&id.to_string()), Some(id));
        let max = ReservationId::new(CartId::new(u64::MAX), u64::MAX, u32::MAX);
        assert_eq!(max.to_string().len(), ID_TEXT_MAX);
        assert_eq!(parse_id(&max.to_string()), Some(max));
        for bad in [
            "",
            "0badf00d-42",
            "0badf00d-42-7-1",
            "0BADF00D-42-7",
            "badf00d-42-7",
            "0badf00d-+42-7",
            "0badf00d--42-7",
            "0badf00d-042-7",
            "0badf00d-42- 7",
            "0badf00d-18446744073709551616-7",
            "0badf00d-42-7\n",
        ] {
            assert_eq!(parse_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn deadlines_round_trip_through_wall_clock_to_the_millisecond() {
        let deadline = Instant::now() + Duration::from_secs(600);
        let back = instant_of(unix_millis(deadline)).unwrap();
        let gap = if back > deadline {
            back - deadline
        } else {
            deadline - back
        };
        assert!(gap < Duration::from_millis(50), "{gap:?}");
        // The extremes never panic (whether they are representable depends on the platform).
        let _ = instant_of(u64::MAX);
        assert!(instant_of(0).is_some_and(|t| t < Instant::now()));
    }
}
