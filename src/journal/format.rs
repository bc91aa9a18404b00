//! The bytes on disk: file headers, record frames and the payload of each record kind.
//!
//! Everything is little-endian, written and read by hand: the layout is small, stable, and has
//! to be checked field by field on the way in anyway (a reader must refuse a bad length or an
//! unknown kind with an error, never a panic). The two records of every lifecycle (`Held`,
//! `Finished`) carry their numbers as varints; the rare ones are fixed-width. See `DESIGN.md`, "The journal",
//! for why the format is what it is.
//!
//! A file is a 32-byte header followed by records:
//!
//! ```text
//! header:  magic [8] | instance u32 | shards u32 | index u64 | reserved u32 (0) | crc u32
//! record:  len u32 | crc u32 | payload [len]      crc = CRC-32 of (len bytes ++ payload)
//! payload: kind u8 | fields of the kind
//! ```

use super::{AdjustKind, Event, HoldChange, Outcome, RequestKey};
use crate::ids::{ItemId, Line};
use crate::reservation::{CartId, ReservationId};

/// Magic of a journal segment.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"ASTKJNL2";
/// Magic of a snapshot.
pub(crate) const SNAPSHOT_MAGIC: [u8; 8] = *b"ASTKSNP2";
/// Bytes of a file header.
pub(crate) const HEADER_LEN: usize = 32;
/// Bytes of a record frame before its payload (length and checksum).
pub(crate) const FRAME_LEN: usize = 8;
/// The largest payload a writer produces is a hold of `MAX_LINES` lines (about 4 KiB) or a
/// snapshot's sequence numbers (about 2 KiB); anything above this bound is damage.
pub(crate) const MAX_PAYLOAD: usize = 1 << 16;

/// A file header: which inventory wrote it, with how many shards, and the file's index.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Header {
    pub(crate) magic: [u8; 8],
    pub(crate) instance: u32,
    pub(crate) shards: u32,
    pub(crate) index: u64,
}

impl Header {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0; HEADER_LEN];
        out[..8].copy_from_slice(&self.magic);
        out[8..12].copy_from_slice(&self.instance.to_le_bytes());
        out[12..16].copy_from_slice(&self.shards.to_le_bytes());
        out[16..24].copy_from_slice(&self.index.to_le_bytes());
        // 24..28 reserved, zero.
        let crc = crc32fast::hash(&out[..28]);
        out[28..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// The header in `bytes`, if they are one (right length, known magic, checksum matches).
    pub(crate) fn decode(bytes: &[u8]) -> Option<Header> {
        let bytes: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        let mut reader = Reader(&bytes[..]);
        let magic: [u8; 8] = reader.take(8)?.try_into().ok()?;
        if magic != SEGMENT_MAGIC && magic != SNAPSHOT_MAGIC {
            return None;
        }
        let instance = reader.u32()?;
        let shards = reader.u32()?;
        let index = reader.u64()?;
        let _reserved = reader.u32()?;
        let crc = reader.u32()?;
        (crc32fast::hash(&bytes[..28]) == crc).then_some(Header {
            magic,
            instance,
            shards,
            index,
        })
    }
}

/// What a frame at some offset turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A whole record with a matching checksum: its payload, and the bytes it took.
    Record(&'a [u8], usize),
    /// The bytes end exactly here.
    End,
    /// Not a valid record: too short for its length, a length out of range, or a checksum
    /// that does not match. At the tail of the last segment this is a torn write.
    Bad,
}

/// Reads the frame at the start of `bytes`.
pub(crate) fn frame(bytes: &[u8]) -> Frame<'_> {
    if bytes.is_empty() {
        return Frame::End;
    }
    let Some(head) = bytes.get(..FRAME_LEN) else {
        return Frame::Bad;
    };
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len == 0 || len > MAX_PAYLOAD {
        return Frame::Bad;
    }
    let Some(payload) = bytes.get(FRAME_LEN..FRAME_LEN + len) else {
        return Frame::Bad;
    };
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&head[..4]);
    hasher.update(payload);
    if hasher.finalize() != crc {
        return Frame::Bad;
    }
    Frame::Record(payload, FRAME_LEN + len)
}

/// Frames the payload written by `write` and appends it to `out`, unsealed: its checksum is
/// left zero until [`seal`] fills it in. Callers encode into their journal lane this way and
/// the flusher seals each batch before writing it, so the checksum is computed off the
/// caller's path and outside the lane's lock.
pub(crate) fn framed(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_LEN]);
    write(out);
    let len = (out.len() - start - FRAME_LEN) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// Fills in the checksum of every frame in `bytes`, which holds whole frames back to back (as
/// [`framed`] appends them). Anything that writes frames to a file seals them first.
pub(crate) fn seal(bytes: &mut [u8]) {
    let mut offset = 0;
    while let Some(head) = bytes.get(offset..offset + FRAME_LEN) {
        let len_bytes = [head[0], head[1], head[2], head[3]];
        let end = offset + FRAME_LEN + u32::from_le_bytes(len_bytes) as usize;
        let Some(payload) = bytes.get(offset + FRAME_LEN..end) else {
            debug_assert!(false, "seal: a frame runs past the buffer");
            return;
        };
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&len_bytes);
        hasher.update(payload);
        let crc = hasher.finalize();
        bytes[offset + 4..offset + 8].copy_from_slice(&crc.to_le_bytes());
        offset = end;
    }
}

/// A hold of at most this many lines is encoded through a stack buffer (the common case: one
/// bounds check and one copy into the lane); longer ones field by field.
const STACK_LINES: usize = 8;
/// Most bytes of a `Held` payload before its lines: kind, cart, seq and version (varints),
/// change, deadline, key flag, key and its time (only with a key), line count (a varint).
const HELD_FIXED: usize = 1 + 3 * VARINT_MAX + 1 + 8 + 1 + 16 + 8 + VARINT_MAX;
/// Most bytes of a `Finished` payload before its lines: kind, cart and seq (varints),
/// outcome, line count (a varint).
const FINISHED_FIXED: usize = 1 + 2 * VARINT_MAX + 1 + VARINT_MAX;
/// Most bytes of one encoded line: item and quantity, varints.
const LINE_MAX: usize = 2 * VARINT_MAX;
/// Most bytes of a varint (LEB128) of a `u64`.
const VARINT_MAX: usize = 10;

/// Writes `fields` (byte strings) back to back into `buf` from `at`; returns where they end.
#[inline(always)]
fn put_at(buf: &mut [u8], mut at: usize, fields: &[&[u8]]) -> usize {
    for field in fields {
        buf[at..at + field.len()].copy_from_slice(field);
        at += field.len();
    }
    at
}

/// Writes `value` as a varint (LEB128: seven bits a byte, low first, the high bit set on every
/// byte but the last) into `buf` from `at`; returns where it ends.
#[inline(always)]
fn put_varint(buf: &mut [u8], mut at: usize, mut value: u64) -> usize {
    while value >= 0x80 {
        buf[at] = (value as u8) | 0x80;
        value >>= 7;
        at += 1;
    }
    buf[at] = value as u8;
    at + 1
}

/// A signed number as an unsigned one whose varint is short when the number is near zero.
fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Writes one line (item, quantity: varints) into `buf` from `at`; returns where it ends.
#[inline(always)]
fn put_line(buf: &mut [u8], at: usize, line: Line) -> usize {
    let at = put_varint(buf, at, u64::from(line.item.get()));
    put_varint(buf, at, zigzag(line.quantity))
}

/// Appends a frame whose payload is `fixed` followed by `lines`: through a stack buffer when
/// there are few lines, else field by field.
#[inline(always)]
fn framed_with_lines(out: &mut Vec<u8>, fixed: &[u8], lines: impl ExactSizeIterator<Item = Line>) {
    if lines.len() <= STACK_LINES {
        let mut buf = [0u8; FRAME_LEN + HELD_FIXED + STACK_LINES * LINE_MAX];
        let mut at = put_at(&mut buf, FRAME_LEN, &[fixed]);
        for line in lines {
            at = put_line(&mut buf, at, line);
        }
        let len = (at - FRAME_LEN) as u32;
        buf[..4].copy_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&buf[..at]);
    } else {
        framed(out, |out| {
            out.extend_from_slice(fixed);
            let mut buf = [0u8; LINE_MAX];
            for line in lines {
                let end = put_line(&mut buf, 0, line);
                out.extend_from_slice(&buf[..end]);
            }
        });
    }
}

// Record kinds. Never renumbered: a kind's number is part of the format.
const REGISTERED: u8 = 1;
const ADJUSTED: u8 = 2;
const DELISTED: u8 = 3;
const HELD: u8 = 4;
const FINISHED: u8 = 5;
const SOLD: u8 = 6;
const NUMBERS: u8 = 7;
const COUNTERS: u8 = 8;
const KEYED: u8 = 9;
const END: u8 = 10;

/// Appends a framed `Held` record (the hot path's encoder: no `Event` is built).
#[allow(clippy::too_many_arguments)]
pub(crate) fn held(
    out: &mut Vec<u8>,
    cart: u64,
    seq: u64,
    version: u64,
    change: HoldChange,
    deadline_unix_ns: u64,
    key: Option<(RequestKey, u64)>,
    lines: impl ExactSizeIterator<Item = Line>,
) {
    let mut fixed = [0u8; HELD_FIXED];
    let mut end = put_at(&mut fixed, 0, &[&[HELD]]);
    end = put_varint(&mut fixed, end, cart);
    end = put_varint(&mut fixed, end, seq);
    end = put_varint(&mut fixed, end, version);
    end = put_at(
        &mut fixed,
        end,
        &[&[change as u8], &deadline_unix_ns.to_le_bytes()],
    );
    end = match key {
        None => put_at(&mut fixed, end, &[&[0]]),
        Some((key, at)) => put_at(
            &mut fixed,
            end,
            &[&[1], &key.0.to_le_bytes(), &at.to_le_bytes()],
        ),
    };
    end = put_varint(&mut fixed, end, lines.len() as u64);
    framed_with_lines(out, &fixed[..end], lines);
}

/// Appends a framed `Finished` record.
pub(crate) fn finished(out: &mut Vec<u8>, cart: u64, seq: u64, outcome: Outcome, lines: &[Line]) {
    let mut fixed = [0u8; FINISHED_FIXED];
    let mut end = put_at(&mut fixed, 0, &[&[FINISHED]]);
    end = put_varint(&mut fixed, end, cart);
    end = put_varint(&mut fixed, end, seq);
    end = put_at(&mut fixed, end, &[&[outcome as u8]]);
    end = put_varint(&mut fixed, end, lines.len() as u64);
    framed_with_lines(out, &fixed[..end], lines.iter().copied());
}

/// Appends any event, framed (registrations, adjustments, and the snapshot's records).
pub(crate) fn event(out: &mut Vec<u8>, event: &Event) {
    match event {
        Event::Held {
            id,
            change,
            version,
            deadline_unix_ns,
            key,
            lines,
        } => held(
            out,
            id.cart.get(),
            id.seq,
            *version,
            *change,
            *deadline_unix_ns,
            *key,
            lines.iter().copied(),
        ),
        Event::Finished { id, outcome, lines } => {
            finished(out, id.cart.get(), id.seq, *outcome, lines);
        }
        other => framed(out, |out| payload(out, other)),
    }
}

/// The payload of every kind but `Held` and `Finished` (which have encoders of their own).
fn payload(out: &mut Vec<u8>, event: &Event) {
    match event {
        Event::Registered { item, sku, initial } => {
            out.push(REGISTERED);
            out.extend_from_slice(&item.get().to_le_bytes());
            out.extend_from_slice(&initial.to_le_bytes());
            let sku = sku.as_deref().unwrap_or("");
            // SKUs are at most MAX_SKU_LEN (256) bytes; a registration without one has
            // length 0 (an empty SKU is refused at registration).
            out.extend_from_slice(&(sku.len() as u16).to_le_bytes());
            out.extend_from_slice(sku.as_bytes());
        }
        Event::Adjusted { item, kind, delta } => {
            out.push(ADJUSTED);
            out.extend_from_slice(&item.get().to_le_bytes());
            out.push(*kind as u8);
            out.extend_from_slice(&delta.to_le_bytes());
        }
        Event::Delisted { item } => {
            out.push(DELISTED);
            out.extend_from_slice(&item.get().to_le_bytes());
        }
        Event::Sold { item, units } => {
            out.push(SOLD);
            out.extend_from_slice(&item.get().to_le_bytes());
            out.extend_from_slice(&units.to_le_bytes());
        }
        Event::Numbers { stamp, next } => {
            out.push(NUMBERS);
            out.extend_from_slice(&stamp.to_le_bytes());
            out.extend_from_slice(&(next.len() as u16).to_le_bytes());
            for n in next {
                out.extend_from_slice(&n.to_le_bytes());
            }
        }
        Event::Counters { counts } => {
            out.push(COUNTERS);
            for n in counts {
                out.extend_from_slice(&n.to_le_bytes());
            }
        }
        Event::Keyed {
            key,
            id,
            deadline_unix_ns,
            at_unix_ns,
        } => {
            out.push(KEYED);
            out.extend_from_slice(&key.0.to_le_bytes());
            out.extend_from_slice(&id.cart.get().to_le_bytes());
            out.extend_from_slice(&id.seq.to_le_bytes());
            out.extend_from_slice(&deadline_unix_ns.to_le_bytes());
            out.extend_from_slice(&at_unix_ns.to_le_bytes());
        }
        Event::End { records } => {
            out.push(END);
            out.extend_from_slice(&records.to_le_bytes());
        }
        // Encoded by `event` through `held` and `finished`.
        Event::Held { .. } | Event::Finished { .. } => {}
    }
}

/// A cursor over a payload; every read checks the length.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn u128(&mut self) -> Option<u128> {
        Some(u128::from_le_bytes(self.take(16)?.try_into().ok()?))
    }
    /// A varint (see `put_varint`): at most ten bytes, and no bits beyond the 64th.
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for i in 0..VARINT_MAX {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if i == VARINT_MAX - 1 && bits > 1 {
                return None;
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    fn lines(&mut self) -> Option<Vec<Line>> {
        let n = usize::try_from(self.varint()?).ok()?;
        // Each line takes at least 2 bytes: a count the payload cannot hold is damage.
        if n > self.0.len() / 2 {
            return None;
        }
        (0..n)
            .map(|_| {
                let item = u32::try_from(self.varint()?).ok()?;
                Some(Line::new(ItemId::new(item), unzigzag(self.varint()?)))
            })
            .collect()
    }
    /// A reservation id as `Held` and `Finished` records carry it: cart and seq, varints.
    fn short_id(&mut self, instance: u32) -> Option<ReservationId> {
        Some(ReservationId::new(
            CartId::new(self.varint()?),
            self.varint()?,
            instance,
        ))
    }
    fn id(&mut self, instance: u32) -> Option<ReservationId> {
        Some(ReservationId::new(
            CartId::new(self.u64()?),
            self.u64()?,
            instance,
        ))
    }
}

/// Decodes a payload whose checksum matched; `None` if it is not a record this version knows
/// (an unknown kind, or fields that do not fit the kind).
pub(crate) fn decode(payload: &[u8], instance: u32) -> Option<Event> {
    let mut r = Reader(payload);
    let event = match r.u8()? {
        REGISTERED => {
            let item = ItemId::new(r.u32()?);
            let initial = r.i64()?;
            let len = usize::from(r.u16()?);
            let sku = std::str::from_utf8(r.take(len)?).ok()?;
            Event::Registered {
                item,
                sku: (!sku.is_empty()).then(|| sku.to_owned()),
                initial,
            }
        }
        ADJUSTED => Event::Adjusted {
            item: ItemId::new(r.u32()?),
            kind: match r.u8()? {
                0 => AdjustKind::Restock,
                1 => AdjustKind::Shrink,
                2 => AdjustKind::Level,
                _ => return None,
            },
            delta: r.i64()?,
        },
        DELISTED => Event::Delisted {
            item: ItemId::new(r.u32()?),
        },
        HELD => {
            let id = r.short_id(instance)?;
            let version = r.varint()?;
            let change = match r.u8()? {
                0 => HoldChange::Reserve,
                1 => HoldChange::SetCart,
                2 => HoldChange::Extend,
                3 => HoldChange::ReleaseLines,
                _ => return None,
            };
            let deadline_unix_ns = r.u64()?;
            let key = match r.u8()? {
                0 => None,
                1 => Some((RequestKey(r.u128()?), r.u64()?)),
                _ => return None,
            };
            Event::Held {
                id,
                change,
                version,
                deadline_unix_ns,
                key,
                lines: r.lines()?,
            }
        }
        FINISHED => Event::Finished {
            id: r.short_id(instance)?,
            outcome: match r.u8()? {
                1 => Outcome::Confirmed,
                2 => Outcome::Released,
                3 => Outcome::Expired,
                _ => return None,
            },
            lines: r.lines()?,
        },
        SOLD => Event::Sold {
            item: ItemId::new(r.u32()?),
            units: r.i64()?,
        },
        NUMBERS => {
            let stamp = r.u64()?;
            let n = usize::from(r.u16()?);
            Event::Numbers {
                stamp,
                next: (0..n).map(|_| r.u64()).collect::<Option<_>>()?,
            }
        }
        COUNTERS => {
            let mut counts = [0; 6];
            for c in &mut counts {
                *c = r.u64()?;
            }
            Event::Counters { counts }
        }
        KEYED => Event::Keyed {
            key: RequestKey(r.u128()?),
            id: r.id(instance)?,
            deadline_unix_ns: r.u64()?,
            at_unix_ns: r.u64()?,
        },
        END => Event::End { records: r.u64()? },
        _ => return None,
    };
    // Trailing bytes mean the record is not what its kind says.
    r.0.is_empty().then_some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Event> {
        let id = ReservationId::new(CartId::new(7), 0x1_0003, 0xabcd);
        vec![
            Event::Registered {
                item: ItemId::new(3),
                sku: Some("MUG-1".into()),
                initial: 10,
            },
            Event::Registered {
                item: ItemId::new(4),
                sku: None,
                initial: 0,
            },
            Event::Adjusted {
                item: ItemId::new(3),
                kind: AdjustKind::Shrink,
                delta: -2,
            },
            Event::Delisted {
                item: ItemId::new(3),
            },
            Event::Held {
                id,
                change: HoldChange::SetCart,
                version: 9,
                deadline_unix_ns: 1 << 60,
                key: Some((RequestKey(u128::MAX - 1), 5)),
                lines: vec![Line::new(ItemId::new(3), 2), Line::new(ItemId::new(4), 1)],
            },
            Event::Finished {
                id,
                outcome: Outcome::Confirmed,
                lines: vec![Line::new(ItemId::new(3), 2)],
            },
            Event::Sold {
                item: ItemId::new(3),
                units: 5,
            },
            Event::Numbers {
                stamp: 4,
                next: vec![1, 2, 3],
            },
            Event::Counters {
                counts: [1, 2, 3, 4, 5, 6],
            },
            Event::Keyed {
                key: RequestKey(42),
                id,
                deadline_unix_ns: 5,
                at_unix_ns: 6,
            },
            Event::End { records: 11 },
        ]
    }

    #[test]
    fn every_kind_round_trips() {
        for event in samples() {
            assert_round_trip(event, 0xabcd);
        }
    }

    /// Encodes and seals `event` alone, and checks that it frames whole and decodes back.
    fn assert_round_trip(event: Event, instance: u32) {
        let mut bytes = Vec::new();
        super::event(&mut bytes, &event);
        seal(&mut bytes);
        let Frame::Record(payload, len) = frame(&bytes) else {
            panic!("{event:?} did not frame");
        };
        assert_eq!(len, bytes.len());
        assert_eq!(decode(payload, instance), Some(event));
    }

    #[test]
    // Quadratic in the sample's size (every bit flipped, every frame checked again), and the
    // format code holds no unsafe code for Miri to check: it took most of the Miri step.
    #[cfg_attr(miri, ignore = "no unsafe code here; too slow under Miri")]
    fn damage_is_detected_never_a_panic() {
        let mut bytes = Vec::new();
        for event in samples() {
            super::event(&mut bytes, &event);
        }
        seal(&mut bytes);
        // Every truncation of a record is Bad (or End at a boundary), never a panic.
        for cut in 0..bytes.len() {
            let mut offset = 0;
            while let Frame::Record(_, len) = frame(&bytes[offset..cut]) {
                offset += len;
            }
            assert!(offset <= cut);
        }
        // Every single flipped bit is caught by the checksum or the length check.
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            let mut offset = 0;
            let mut records = 0;
            while let Frame::Record(payload, len) = frame(&damaged[offset..]) {
                let _ = decode(payload, 0);
                offset += len;
                records += 1;
            }
            assert!(records < samples().len(), "bit {bit} went unnoticed");
        }
        // Garbage payloads with a valid frame decode to None, not a panic.
        for len in 0..64 {
            let payload: Vec<u8> = (0..len).map(|i| (i * 37 % 11) as u8).collect();
            let _ = decode(&payload, 0);
        }
    }

    #[test]
    // Records of up to 300 lines, encoded and decoded: safe code only, slow under Miri.
    #[cfg_attr(miri, ignore = "no unsafe code here; too slow under Miri")]
    fn holds_and_outcomes_round_trip_at_the_extremes() {
        let big = ReservationId::new(CartId::new(u64::MAX), u64::MAX, 1);
        let lines: Vec<Line> = [
            (u32::MAX, i64::MAX),
            (0, i64::MIN),
            (1, -1),
            (127, 128),
            (128, 0),
        ]
        .into_iter()
        .map(|(item, quantity)| Line::new(ItemId::new(item), quantity))
        .collect();
        // Up to the stack buffer's line count and past it.
        for n in [0, 1, 5, STACK_LINES, STACK_LINES + 1, 300] {
            let lines: Vec<Line> = lines.iter().copied().cycle().take(n).collect();
            for event in [
                Event::Held {
                    id: big,
                    change: HoldChange::ReleaseLines,
                    version: u64::MAX,
                    deadline_unix_ns: u64::MAX,
                    key: None,
                    lines: lines.clone(),
                },
                Event::Finished {
                    id: big,
                    outcome: Outcome::Expired,
                    lines,
                },
            ] {
                assert_round_trip(event, 1);
            }
        }
    }

    #[test]
    fn a_varint_longer_than_64_bits_is_damage() {
        // Kind, then a cart of eleven continuation bytes.
        let mut payload = vec![FINISHED];
        payload.extend_from_slice(&[0xff; 11]);
        assert_eq!(decode(&payload, 0), None);
        // Ten bytes whose last carries bits above the 64th.
        let mut payload = vec![FINISHED];
        payload.extend_from_slice(&[0xff; 9]);
        payload.push(0x02);
        assert_eq!(decode(&payload, 0), None);
    }

    #[test]
    fn a_frame_is_read_only_once_sealed() {
        let mut bytes = Vec::new();
        finished(&mut bytes, 7, 9, Outcome::Released, &[]);
        assert!(
            matches!(frame(&bytes), Frame::Bad),
            "unsealed frame accepted"
        );
        seal(&mut bytes);
        let Frame::Record(payload, len) = frame(&bytes) else {
            panic!("sealed frame refused");
        };
        assert_eq!(len, bytes.len());
        assert!(decode(payload, 0).is_some());
    }

    #[test]
    fn headers_check_their_checksum() {
        let header = Header {
            magic: SEGMENT_MAGIC,
            instance: 5,
            shards: 8,
            index: 3,
        };
        let mut bytes = header.encode();
        assert_eq!(Header::decode(&bytes), Some(header));
        bytes[17] ^= 4;
        assert_eq!(Header::decode(&bytes), None);
        assert_eq!(Header::decode(&bytes[..10]), None);
    }
}
