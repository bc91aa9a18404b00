//! The wire form of ids, lines, receipts and item levels (feature `serde`): round trips in a
//! human-readable and a binary form, the exact tokens (which are the stable wire format), what
//! a deserialized id means to an inventory, and malformed input.

use atomic_stock::{
    CartId, Confirmation, Inventory, ItemId, ItemLevels, Line, ManualClock, Receipt,
    ReservationError, ReservationId, ReservationState,
};
use serde_test::{assert_de_tokens_error, assert_tokens, Configure, Token};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(600);

/// The binary wire form of `ReservationId::new(CartId::new(42), 1795, 0x0bad_f00d)`: cart,
/// sequence number and tag, little-endian.
const ID_BYTES: [u8; 20] = [
    42, 0, 0, 0, 0, 0, 0, 0, // cart
    3, 7, 0, 0, 0, 0, 0, 0, // seq = 7 << 8 | 3
    0x0d, 0xf0, 0xad, 0x0b, // tag
];

fn json<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) -> T {
    serde_json::from_str(&serde_json::to_string(value).unwrap()).unwrap()
}

#[test]
fn plain_ids_are_their_numbers() {
    assert_tokens(&ItemId::new(7), &[Token::U32(7)]);
    assert_tokens(&CartId::new(u64::MAX), &[Token::U64(u64::MAX)]);
    assert_eq!(serde_json::to_string(&CartId::new(42)).unwrap(), "42");
    assert_eq!(json(&ItemId::new(u32::MAX)), ItemId::new(u32::MAX));
}

#[test]
fn reservation_id_is_its_display_string_or_its_bytes() {
    let id = ReservationId::new(CartId::new(42), 7 << 8 | 3, 0x0bad_f00d);
    assert_tokens(&id.readable(), &[Token::Str("0badf00d-42-1795")]);
    assert_eq!(id.to_bytes(), ID_BYTES);
    assert_tokens(&id.compact(), &[Token::Bytes(&ID_BYTES)]);
    assert_eq!(serde_json::to_string(&id).unwrap(), "\"0badf00d-42-1795\"");
    assert_eq!(json(&id), id);
    let extremes = ReservationId::new(CartId::new(u64::MAX), u64::MAX, 0);
    assert_eq!(
        serde_json::to_string(&extremes).unwrap(),
        "\"00000000-18446744073709551615-18446744073709551615\""
    );
    assert_eq!(json(&extremes), extremes);
}

#[test]
fn lines_and_item_levels_are_plain_structs() {
    let line = Line::new(ItemId::new(3), 2);
    assert_tokens(
        &line,
        &[
            Token::Struct {
                name: "Line",
                len: 2,
            },
            Token::Str("item"),
            Token::U32(3),
            Token::Str("quantity"),
            Token::I64(2),
            Token::StructEnd,
        ],
    );
    let inventory = Inventory::new();
    let mug = inventory.register_item(5).unwrap();
    inventory
        .reserve(CartId::new(1), &[Line::new(mug, 2)], TTL)
        .unwrap();
    let levels = inventory.item(mug).unwrap();
    assert_eq!(
        serde_json::to_string(&levels).unwrap(),
        r#"{"available":3,"in_flight":0,"held":2,"sold":0,"received":5}"#
    );
    assert_eq!(json(&levels), levels);
}

#[test]
fn receipt_carries_its_deadline_as_unix_milliseconds() {
    let inventory = Inventory::new();
    let mug = inventory.register_item(5).unwrap();
    let receipt = inventory
        .reserve(CartId::new(1), &[Line::new(mug, 2)], TTL)
        .unwrap();
    let text = serde_json::to_string(&receipt).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["id"], receipt.id.to_string());
    let millis = value["deadline_unix_ms"].as_u64().unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(millis.abs_diff(now_ms + TTL.as_millis() as u64) < 5_000);

    let back: Receipt = serde_json::from_str(&text).unwrap();
    assert_eq!(back.id, receipt.id);
    let gap = if back.deadline > receipt.deadline {
        back.deadline - receipt.deadline
    } else {
        receipt.deadline - back.deadline
    };
    assert!(gap < Duration::from_millis(50), "{gap:?}");
    // A stored receipt's id still confirms the reservation.
    assert_eq!(inventory.confirm(back.id), Ok(Confirmation::Confirmed));
}

/// A receipt compared by id and by deadline to within 50 ms: a deadline crosses the wire as
/// wall-clock milliseconds (see the crate's `wire` module docs).
#[derive(Clone, Copy, Debug, serde::Deserialize)]
struct Approx(Receipt);

impl PartialEq for Approx {
    fn eq(&self, other: &Approx) -> bool {
        let (a, b) = (self.0.deadline, other.0.deadline);
        let gap = if a > b { a - b } else { b - a };
        self.0.id == other.0.id && gap < Duration::from_millis(50)
    }
}

#[test]
fn receipt_in_a_binary_form() {
    let id = ReservationId::from_bytes(ID_BYTES);
    let deadline_ms = (std::time::SystemTime::now() + TTL)
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let expected = Approx(Receipt {
        id,
        deadline: Instant::now() + TTL,
    });
    serde_test::assert_de_tokens(
        &expected.compact(),
        &[
            Token::NewtypeStruct { name: "Approx" },
            Token::Struct {
                name: "Receipt",
                len: 2,
            },
            Token::Str("id"),
            Token::Bytes(&ID_BYTES),
            Token::Str("deadline_unix_ms"),
            Token::U64(deadline_ms),
            Token::StructEnd,
        ],
    );
    // As a sequence too (formats that write structs as tuples).
    serde_test::assert_de_tokens(
        &expected.compact(),
        &[
            Token::NewtypeStruct { name: "Approx" },
            Token::Seq { len: Some(2) },
            Token::Bytes(&ID_BYTES),
            Token::U64(deadline_ms),
            Token::SeqEnd,
        ],
    );
}

/// Serializes `id` as an order service would store it, and reads it back.
fn through_a_record(id: ReservationId) -> ReservationId {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct OrderRecord {
        order: u64,
        reservation: ReservationId,
    }
    let text = serde_json::to_string(&OrderRecord {
        order: 1,
        reservation: id,
    })
    .unwrap();
    serde_json::from_str::<OrderRecord>(&text)
        .unwrap()
        .reservation
}

#[test]
fn a_deserialized_id_acts_on_its_reservation_like_the_original() {
    let inventory = Inventory::new();
    let mug = inventory.register_item(5).unwrap();
    let receipt = inventory
        .reserve(CartId::new(1), &[Line::new(mug, 2)], TTL)
        .unwrap();
    let stored = through_a_record(receipt.id);
    assert_eq!(stored, receipt.id);
    assert_eq!(inventory.status(stored), Ok(ReservationState::Held));
    assert_eq!(inventory.reservation(stored).unwrap().id, receipt.id);
    assert_eq!(inventory.confirm(stored), Ok(Confirmation::Confirmed));
    assert_eq!(inventory.item(mug).unwrap().sold, 2);
}

#[test]
fn ids_of_finished_reservations_and_other_inventories_get_the_unknown_ids_error() {
    // One shard remembering one outcome, so that the test can make an outcome forgotten.
    let clock = Arc::new(ManualClock::new());
    let inventory = Inventory::builder()
        .clock(clock)
        .shards(1)
        .finished_memory(1)
        .build();
    let mug = inventory.register_item(5).unwrap();
    let reserve = |cart| {
        inventory
            .reserve(CartId::new(cart), &[Line::new(mug, 1)], TTL)
            .unwrap()
            .id
    };
    let never_issued = through_a_record(ReservationId::new(CartId::new(1), 12_345 << 8, 0));
    let unknown = inventory.confirm(never_issued).unwrap_err();
    assert_eq!(unknown, ReservationError::Unknown);
    assert_eq!(inventory.release(never_issued), Err(unknown));
    assert_eq!(inventory.status(never_issued), Err(unknown));

    // Released: while the outcome is remembered, the stored id gets it, exactly as the
    // original id does (the exactly-once contract: a late confirm learns why it lost).
    let released = reserve(1);
    let stored = through_a_record(released);
    inventory.release(released).unwrap();
    assert_eq!(inventory.confirm(stored), inventory.confirm(released));
    assert_eq!(inventory.confirm(stored), Err(ReservationError::Released));
    // Once the outcome is forgotten, the stored id is an unknown id like any other.
    let later = reserve(2);
    inventory.release(later).unwrap();
    assert_eq!(inventory.confirm(stored), Err(unknown));
    assert_eq!(inventory.release(stored), Err(unknown));
    assert_eq!(inventory.extend(stored, TTL), Err(unknown));
    assert_eq!(inventory.status(stored), Err(unknown));
    assert_eq!(inventory.reservation(stored), None);

    // A live reservation's id read by another inventory (another process, or a restart):
    // unknown there, and the reservation here is untouched.
    let live = reserve(3);
    let other = Inventory::new();
    other.register_item(5).unwrap();
    let foreign = through_a_record(live);
    assert_eq!(other.confirm(foreign), Err(unknown));
    assert_eq!(other.release(foreign), Err(unknown));
    assert_eq!(other.status(foreign), Err(unknown));
    assert_eq!(other.reservation(foreign), None);
    assert_eq!(inventory.status(live), Ok(ReservationState::Held));

    // A forged id: the right inventory tag, a sequence number never issued.
    let forged: ReservationId = serde_json::from_str(&format!(
        "\"{:08x}-3-{}\"",
        live.tag(),
        live.seq() + (1 << 20)
    ))
    .unwrap();
    assert_eq!(inventory.confirm(forged), Err(unknown));
    assert_eq!(inventory.status(live), Ok(ReservationState::Held));
}

#[test]
fn malformed_input_is_a_serde_error() {
    for text in [
        "42",
        "null",
        "[]",
        "{}",
        "\"\"",
        "\"0badf00d-42\"",
        "\"0badf00d-42-7-1\"",
        "\"0BADF00D-42-7\"",
        "\"0badf00d--42-7\"",
        "\"0badf00d-42-18446744073709551616\"",
        "\"0badf00d-42-7 \"",
        "\"zzzzzzzz-42-7\"",
    ] {
        assert!(
            serde_json::from_str::<ReservationId>(text).is_err(),
            "{text}"
        );
    }
    for text in [
        r#"{"id":"0badf00d-42-7"}"#,
        r#"{"deadline_unix_ms":1}"#,
        r#"{"id":"0badf00d-42-7","deadline_unix_ms":-1}"#,
        r#"{"id":"0badf00d-42-7","deadline_unix_ms":18446744073709551616}"#,
        r#"{"id":"0badf00d-42-7","deadline_unix_ms":1,"extra":0}"#,
        r#"{"id":"0badf00d-42-7","id":"0badf00d-42-7","deadline_unix_ms":1}"#,
        r#"{"id":7,"deadline_unix_ms":1}"#,
    ] {
        assert!(serde_json::from_str::<Receipt>(text).is_err(), "{text}");
    }
    assert!(serde_json::from_str::<ItemId>("-1").is_err());
    assert!(serde_json::from_str::<ItemId>("4294967296").is_err());
    assert!(serde_json::from_str::<CartId>("1.5").is_err());
    assert!(serde_json::from_str::<Line>(r#"{"item":1}"#).is_err());
    assert!(serde_json::from_str::<ItemLevels>(r#"{"available":"x"}"#).is_err());

    // The binary form: exactly 20 bytes.
    assert_de_tokens_error::<serde_test::Compact<ReservationId>>(
        &[Token::Bytes(ID_BYTES.split_at(19).0)],
        "invalid length 19, expected a reservation id: \"{tag:08x}-{cart}-{seq}\" or 20 bytes",
    );
    assert_de_tokens_error::<serde_test::Readable<ReservationId>>(
        &[Token::Str("0badf00d-42-07")],
        "invalid value: string \"0badf00d-42-07\", expected a reservation id: \"{tag:08x}-{cart}-{seq}\" or 20 bytes",
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A small deterministic generator: every prefix of structured-looking noise.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let alphabet = b"0123456789abcdefABCDEF-\"{}[]:,. idealin_ums";
    for _ in 0..20_000 {
        let len = (state % 48) as usize;
        let text: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                alphabet[(state % alphabet.len() as u64) as usize]
            })
            .collect();
        let _ = serde_json::from_slice::<ReservationId>(&text);
        let _ = serde_json::from_slice::<Receipt>(&text);
        let _ = serde_json::from_slice::<ItemLevels>(&text);
        let _ = serde_json::from_slice::<Line>(&text);
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    }
}
