//! Folding events into the state they describe, and writing that state back as a snapshot.
//!
//! Every record is a fact that commutes with the others (see the module docs of
//! [`crate::journal`]), so folding them in any order gives the same state: level changes add
//! up, the highest hold version of a reservation wins, and a final outcome wins over any hold.

use super::format;
use super::writer::{snapshot_path, sync_dir};
use super::{Event, HoldChange, JournalError, Outcome, RequestKey};
use crate::ids::{ItemId, Line};
use crate::reservation::{CartId, ReservationId};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

/// Bits of a sequence number that name its shard (as in the inventory).
const SHARD_BITS: u32 = 8;

/// One item as the records describe it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Item {
    pub(crate) registered: bool,
    pub(crate) sku: Option<String>,
    /// Initial units plus every adjustment.
    pub(crate) received: i64,
    pub(crate) delisted: bool,
    pub(crate) sold: i64,
}

/// A reservation's current hold as the records describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hold {
    pub(crate) version: u64,
    pub(crate) deadline_unix_ns: u64,
    pub(crate) lines: Vec<Line>,
}

/// An answered request key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Keyed {
    pub(crate) cart: u64,
    pub(crate) seq: u64,
    pub(crate) deadline_unix_ns: u64,
    pub(crate) at_unix_ns: u64,
}

/// The state folded from a snapshot and the journal after it.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    pub(crate) items: BTreeMap<u32, Item>,
    /// Live reservations by (cart, seq).
    pub(crate) holds: HashMap<(u64, u64), Hold>,
    /// Finished reservations by (cart, seq).
    pub(crate) finished: HashMap<(u64, u64), Outcome>,
    /// Next reservation number per shard.
    pub(crate) next: Vec<u64>,
    /// Next hold version.
    pub(crate) stamp: u64,
    /// reserves, confirms, releases, partial releases, extends, expiries.
    pub(crate) counts: [u64; 6],
    pub(crate) keys: HashMap<RequestKey, Keyed>,
    /// Records folded.
    pub(crate) records: u64,
    /// Folding a snapshot: its holds and outcomes are already in its counters.
    pub(crate) in_snapshot: bool,
}

impl Replay {
    fn note(&mut self, seq: u64) {
        let shard = (seq & ((1 << SHARD_BITS) - 1)) as usize;
        if self.next.len() <= shard {
            self.next.resize(shard + 1, 0);
        }
        let next = (seq >> SHARD_BITS).saturating_add(1);
        self.next[shard] = self.next[shard].max(next);
    }

    fn item(&mut self, item: ItemId) -> &mut Item {
        self.items.entry(item.get()).or_default()
    }

    /// Folds one event in.
    pub(crate) fn apply(&mut self, event: Event) {
        self.records += 1;
        match event {
            Event::Registered { item, sku, initial } => {
                let entry = self.item(item);
                entry.registered = true;
                entry.sku = sku;
                entry.received += initial;
            }
            Event::Adjusted { item, delta, .. } => self.item(item).received += delta,
            Event::Delisted { item } => self.item(item).delisted = true,
            Event::Held {
                id,
                change,
                version,
                deadline_unix_ns,
                key,
                lines,
            } => {
                let key_of = (id.cart().get(), id.seq());
                self.note(id.seq());
                self.stamp = self.stamp.max(version.saturating_add(1));
                if !self.in_snapshot {
                    self.counts[match change {
                        HoldChange::Reserve | HoldChange::SetCart => 0,
                        HoldChange::ReleaseLines => 3,
                        HoldChange::Extend => 4,
                    }] += 1;
                }
                if let Some((key, at_unix_ns)) = key {
                    self.keys.insert(
                        key,
                        Keyed {
                            cart: key_of.0,
                            seq: key_of.1,
                            deadline_unix_ns,
                            at_unix_ns,
                        },
                    );
                }
                if self.finished.contains_key(&key_of) {
                    return;
                }
                let hold = Hold {
                    version,
                    deadline_unix_ns,
                    lines,
                };
                match self.holds.get_mut(&key_of) {
                    Some(current) if current.version >= version => {}
                    Some(current) => *current = hold,
                    None => {
                        self.holds.insert(key_of, hold);
                    }
                }
            }
            Event::Finished { id, outcome, lines } => {
                let key_of = (id.cart().get(), id.seq());
                self.note(id.seq());
                self.holds.remove(&key_of);
                if self.finished.insert(key_of, outcome).is_some() {
                    // Recorded once per reservation; a second record changes nothing.
                    return;
                }
                if !self.in_snapshot {
                    self.counts[match outcome {
                        Outcome::Confirmed => 1,
                        Outcome::Released => 2,
                        Outcome::Expired => 5,
                    }] += 1;
                }
                if outcome == Outcome::Confirmed {
                    for line in lines {
                        self.item(line.item).sold += line.quantity;
                    }
                }
            }
            Event::Sold { item, units } => self.item(item).sold += units,
            Event::Numbers { stamp, next } => {
                self.stamp = self.stamp.max(stamp);
                if self.next.len() < next.len() {
                    self.next.resize(next.len(), 0);
                }
                for (mine, theirs) in self.next.iter_mut().zip(next) {
                    *mine = (*mine).max(theirs);
                }
            }
            Event::Counters { counts } => {
                for (mine, theirs) in self.counts.iter_mut().zip(counts) {
                    *mine += theirs;
                }
            }
            Event::Keyed {
                key,
                id,
                deadline_unix_ns,
                at_unix_ns,
            } => {
                self.keys.insert(
                    key,
                    Keyed {
                        cart: id.cart().get(),
                        seq: id.seq(),
                        deadline_unix_ns,
                        at_unix_ns,
                    },
                );
            }
            Event::End { .. } => {}
        }
    }

    /// Leaves one live reservation per cart (the newest): a cart whose older reservation
    /// still looks live lost that reservation's final record in a crash (buffered mode). The
    /// older one (by number: numbers grow within a shard, and jump at every open) is counted
    /// as expired. Returns those.
    pub(crate) fn one_per_cart(&mut self) -> Vec<(u64, u64)> {
        let mut newest: HashMap<u64, u64> = HashMap::new();
        for &(cart, seq) in self.holds.keys() {
            let entry = newest.entry(cart).or_insert(seq);
            if (seq >> SHARD_BITS, seq) > (*entry >> SHARD_BITS, *entry) {
                *entry = seq;
            }
        }
        let stale: Vec<(u64, u64)> = self
            .holds
            .keys()
            .filter(|(cart, seq)| newest[cart] != *seq)
            .copied()
            .collect();
        for key in &stale {
            self.holds.remove(key);
            self.finished.insert(*key, Outcome::Expired);
        }
        stale
    }

    /// Units each item's live reservations hold.
    pub(crate) fn held(&self) -> HashMap<u32, i64> {
        let mut held = HashMap::new();
        for hold in self.holds.values() {
            for line in &hold.lines {
                *held.entry(line.item.get()).or_insert(0) += line.quantity;
            }
        }
        held
    }

    /// The state as snapshot events: items, live holds, the newest `keep` finished
    /// reservations of each shard, numbers, counters and the keys answered after
    /// `keys_since_unix_ns`.
    pub(crate) fn events(&self, instance: u32, keep: u64, keys_since_unix_ns: u64) -> Vec<Event> {
        let id = |(cart, seq): (u64, u64)| ReservationId::new(CartId::new(cart), seq, instance);
        let mut events = Vec::new();
        for (&index, item) in &self.items {
            let item_id = ItemId::new(index);
            if item.registered {
                events.push(Event::Registered {
                    item: item_id,
                    sku: item.sku.clone(),
                    initial: item.received,
                });
            } else if item.received != 0 {
                events.push(Event::Adjusted {
                    item: item_id,
                    kind: super::AdjustKind::Restock,
                    delta: item.received,
                });
            }
            if item.delisted {
                events.push(Event::Delisted { item: item_id });
            }
            if item.sold != 0 {
                events.push(Event::Sold {
                    item: item_id,
                    units: item.sold,
                });
            }
        }
        let mut holds: Vec<_> = self.holds.iter().collect();
        holds.sort_unstable_by_key(|(key, _)| **key);
        for (&key, hold) in holds {
            events.push(Event::Held {
                id: id(key),
                change: HoldChange::Reserve,
                version: hold.version,
                deadline_unix_ns: hold.deadline_unix_ns,
                key: None,
                lines: hold.lines.clone(),
            });
        }
        // The newest `keep` of each shard, by number (numbers have gaps across restarts, so
        // by rank, not by distance from the next number).
        let mut finished: Vec<_> = self.finished.iter().collect();
        finished.sort_unstable_by_key(|((_, seq), _)| {
            (
                seq & ((1 << SHARD_BITS) - 1),
                std::cmp::Reverse(seq >> SHARD_BITS),
            )
        });
        let mut kept = Vec::with_capacity(finished.len());
        let mut shard = u64::MAX;
        let mut taken = 0;
        for entry in finished {
            let this = entry.0 .1 & ((1 << SHARD_BITS) - 1);
            if this != shard {
                (shard, taken) = (this, 0);
            }
            if taken < keep {
                kept.push(entry);
                taken += 1;
            }
        }
        let mut finished = kept;
        finished.sort_unstable_by_key(|(key, _)| **key);
        for (&key, &outcome) in finished {
            events.push(Event::Finished {
                id: id(key),
                outcome,
                lines: Vec::new(),
            });
        }
        events.push(Event::Numbers {
            stamp: self.stamp,
            next: self.next.clone(),
        });
        events.push(Event::Counters {
            counts: self.counts,
        });
        let mut keys: Vec<_> = self
            .keys
            .iter()
            .filter(|(_, k)| k.at_unix_ns >= keys_since_unix_ns)
            .collect();
        keys.sort_unstable_by_key(|(key, _)| **key);
        for (&key, k) in keys {
            events.push(Event::Keyed {
                key,
                id: id((k.cart, k.seq)),
                deadline_unix_ns: k.deadline_unix_ns,
                at_unix_ns: k.at_unix_ns,
            });
        }
        events
    }
}

/// Writes snapshot `index` of `dir` from `events`: to a temporary file, synced, then renamed
/// into place and the directory synced, so a snapshot file is either whole or absent.
pub(crate) fn write_snapshot(
    dir: &Path,
    index: u64,
    instance: u32,
    shards: u32,
    events: &[Event],
) -> Result<(), JournalError> {
    let path = snapshot_path(dir, index);
    let tmp = path.with_extension("snapshot-tmp");
    let mut bytes = Vec::with_capacity(64 * events.len() + 64);
    bytes.extend_from_slice(
        &format::Header {
            magic: format::SNAPSHOT_MAGIC,
            instance,
            shards,
            index,
        }
        .encode(),
    );
    for event in events {
        format::event(&mut bytes, event);
    }
    format::event(
        &mut bytes,
        &Event::End {
            records: events.len() as u64,
        },
    );
    format::seal(&mut bytes[format::HEADER_LEN..]);
    let io = |e: std::io::Error| JournalError::io(&tmp, &e);
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(&bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, &path).map_err(|e| JournalError::io(&path, &e))?;
    sync_dir(dir).map_err(|e| JournalError::io(dir, &e))
}

/// The reservations a set of events names, for tests.
#[cfg(test)]
pub(crate) fn live_set(replay: &Replay) -> std::collections::HashSet<(u64, u64)> {
    replay.holds.keys().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(cart: u64, seq: u64, version: u64, qty: i64) -> Event {
        Event::Held {
            id: ReservationId::new(CartId::new(cart), seq, 1),
            change: HoldChange::Reserve,
            version,
            deadline_unix_ns: 10,
            key: None,
            lines: vec![Line::new(ItemId::new(0), qty)],
        }
    }

    fn finished(cart: u64, seq: u64, outcome: Outcome, qty: i64) -> Event {
        Event::Finished {
            id: ReservationId::new(CartId::new(cart), seq, 1),
            outcome,
            lines: vec![Line::new(ItemId::new(0), qty)],
        }
    }

    #[test]
    fn any_order_folds_to_the_same_state() {
        let events = [
            Event::Registered {
                item: ItemId::new(0),
                sku: Some("A".into()),
                initial: 10,
            },
            held(1, 256, 0, 2),
            held(1, 256, 5, 3),
            held(2, 257, 0, 1),
            finished(2, 257, Outcome::Confirmed, 1),
            held(3, 512, 0, 4),
            finished(3, 512, Outcome::Released, 4),
        ];
        let fold = |order: &[usize]| {
            let mut replay = Replay::default();
            for &i in order {
                replay.apply(events[i].clone());
            }
            replay
        };
        let forward: Vec<usize> = (0..events.len()).collect();
        let reference = fold(&forward);
        assert_eq!(reference.holds[&(1, 256)].lines[0].quantity, 3);
        assert_eq!(reference.items[&0].sold, 1);
        assert_eq!(live_set(&reference), [(1, 256)].into_iter().collect());
        assert_eq!(reference.next, vec![3, 2]);
        let mut order = forward.clone();
        for rotation in 0..events.len() {
            order.rotate_left(1);
            let mut reversed = order.clone();
            reversed.reverse();
            for o in [&order, &reversed] {
                let other = fold(o);
                assert_eq!(other.holds, reference.holds, "rotation {rotation}");
                assert_eq!(other.items, reference.items);
                assert_eq!(other.next, reference.next);
            }
        }
    }

    #[test]
    fn a_cart_keeps_only_its_newest_live_reservation() {
        let mut replay = Replay::default();
        // Cart 1's first reservation (number 1, shard 0) lost its final record; its second
        // (number 5, shard 1) is live.
        replay.apply(held(1, 1 << SHARD_BITS, 0, 2));
        replay.apply(held(1, 5 << SHARD_BITS | 1, 0, 3));
        replay.apply(held(2, 2 << SHARD_BITS, 0, 1));
        assert_eq!(replay.one_per_cart(), vec![(1, 1 << SHARD_BITS)]);
        assert_eq!(replay.holds.len(), 2);
        assert_eq!(replay.held()[&0], 4);
        assert_eq!(replay.finished[&(1, 1 << SHARD_BITS)], Outcome::Expired);
    }

    #[test]
    fn a_snapshot_folds_back_to_the_same_state() {
        let mut replay = Replay::default();
        replay.apply(Event::Registered {
            item: ItemId::new(0),
            sku: None,
            initial: 10,
        });
        replay.apply(held(1, 256, 2, 2));
        replay.apply(held(2, 257, 0, 1));
        replay.apply(finished(2, 257, Outcome::Confirmed, 1));
        let mut again = Replay {
            in_snapshot: true,
            ..Replay::default()
        };
        for event in replay.events(1, 1 << 20, 0) {
            again.apply(event);
        }
        assert_eq!(again.items, replay.items);
        assert_eq!(again.holds, replay.holds);
        assert_eq!(again.finished, replay.finished);
        assert_eq!(again.next, replay.next);
        assert_eq!(again.stamp, replay.stamp);
        assert_eq!(again.counts, replay.counts);
    }
}
