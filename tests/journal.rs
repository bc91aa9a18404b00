//! The journal: recovery of every kind of change, ids across restarts, torn and corrupt files,
//! snapshots, the event stream, and request keys.

use atomic_stock::journal::{
    Durability, Event, HoldChange, JournalError, JournalReader, Outcome, RequestKey,
};
use atomic_stock::{
    CartId, Confirmation, Inventory, ItemId, Line, ReservationError, ReservationId,
    ReservationState,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

const TTL: Duration = Duration::from_secs(600);

/// A fresh directory under the target's temporary space, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let path = std::env::temp_dir().join(format!(
            "atomic-stock-journal-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        Dir(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl AsRef<Path> for Dir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

fn segments(dir: &Dir) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "journal"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_change_comes_back() {
    let dir = Dir::new("every");
    let inventory = Inventory::open(&dir).unwrap();
    let mug = inventory.register_sku("MUG-1", 10).unwrap();
    let tea = inventory.register_item(5).unwrap();
    let cup = inventory.register_sku("CUP-1", 3).unwrap();
    inventory.restock(mug, 4).unwrap();
    inventory.shrink(tea, 1).unwrap();
    inventory.set_available(cup, 3, 7).unwrap();
    inventory.delist(cup).unwrap();
    let sold = inventory
        .reserve(CartId::new(1), &[Line::new(mug, 2), Line::new(tea, 1)], TTL)
        .unwrap();
    inventory.confirm(sold.id).unwrap();
    let released = inventory
        .reserve(CartId::new(2), &[Line::new(mug, 1)], TTL)
        .unwrap();
    inventory.release(released.id).unwrap();
    let live = inventory
        .reserve(CartId::new(3), &[Line::new(mug, 3)], TTL)
        .unwrap();
    inventory
        .reserve(CartId::new(3), &[Line::new(tea, 2)], TTL)
        .unwrap();
    inventory
        .release_lines(live.id, &[Line::new(mug, 1)])
        .unwrap();
    let extended = inventory.extend(live.id, 2 * TTL).unwrap();
    let updated = inventory
        .set_cart(CartId::new(4), &[Line::new(mug, 1)], TTL)
        .unwrap();
    inventory
        .set_cart(CartId::new(4), &[Line::new(tea, 1)], TTL)
        .unwrap();
    let levels: Vec<_> = [mug, tea, cup]
        .iter()
        .map(|&i| inventory.item(i).unwrap())
        .collect();
    let stats = inventory.stats();
    let held_before = inventory.reservation(live.id).unwrap();
    drop(inventory);

    let inventory = Inventory::open(&dir).unwrap();
    let recovery = inventory.recovery().unwrap().clone();
    assert_eq!((recovery.items, recovery.live), (3, 2));
    assert_eq!(inventory.item_by_sku("MUG-1"), Some(mug));
    assert_eq!(inventory.item_by_sku("CUP-1"), Some(cup));
    assert_eq!(inventory.sku(tea), None);
    assert_eq!(inventory.is_delisted(cup), Some(true));
    for (i, item) in [mug, tea, cup].into_iter().enumerate() {
        let mut got = inventory.item(item).unwrap();
        got.in_flight = levels[i].in_flight;
        assert_eq!(got, levels[i], "{item}");
    }
    let after = inventory.stats();
    assert_eq!(
        (after.reserves, after.confirms, after.releases),
        (stats.reserves, stats.confirms, stats.releases)
    );
    assert_eq!(
        (after.partial_releases, after.extends),
        (stats.partial_releases, stats.extends)
    );
    // Live reservations, their lines and (to the millisecond) their deadlines.
    let held_after = inventory.reservation(live.id).unwrap();
    assert_eq!(held_after.lines, held_before.lines);
    let drift = held_after
        .deadline
        .saturating_duration_since(extended.deadline)
        .max(
            extended
                .deadline
                .saturating_duration_since(held_after.deadline),
        );
    assert!(drift < Duration::from_millis(50), "{drift:?}");
    assert_eq!(
        inventory.cart(CartId::new(4)).unwrap().lines,
        vec![Line::new(tea, 1)]
    );
    assert_eq!(inventory.cart(CartId::new(4)).unwrap().id, updated.id);
    // Remembered outcomes answer for the old ids.
    assert_eq!(
        inventory.confirm(sold.id),
        Ok(Confirmation::AlreadyConfirmed)
    );
    assert_eq!(
        inventory.status(released.id),
        Ok(ReservationState::Released)
    );
    // Another inventory's ids are still refused.
    let forged = ReservationId::new(CartId::new(3), live.id.seq(), live.id.tag() ^ 1);
    assert_eq!(inventory.confirm(forged), Err(ReservationError::Unknown));
    // New reservations get new ids, never an old one.
    let next = inventory
        .reserve(CartId::new(2), &[Line::new(mug, 1)], TTL)
        .unwrap();
    assert_ne!(next.id, released.id);
    assert_eq!(next.id.tag(), released.id.tag());
    assert_eq!(inventory.confirm(live.id), Ok(Confirmation::Confirmed));
    inventory.audit().unwrap();
    let sold_now = inventory.item(mug).unwrap().sold;
    drop(inventory);
    let inventory = Inventory::open(&dir).unwrap();
    assert_eq!(inventory.item(mug).unwrap().sold, sold_now);
    inventory.audit().unwrap();
}

#[test]
fn deadlines_that_passed_while_down_expire_on_open() {
    let dir = Dir::new("expire");
    let inventory = Inventory::open(&dir).unwrap();
    let mug = inventory.register_item(5).unwrap();
    let short = inventory
        .reserve(
            CartId::new(1),
            &[Line::new(mug, 2)],
            Duration::from_millis(30),
        )
        .unwrap();
    let long = inventory
        .reserve(CartId::new(2), &[Line::new(mug, 1)], TTL)
        .unwrap();
    drop(inventory);
    std::thread::sleep(Duration::from_millis(60));
    let inventory = Inventory::open(&dir).unwrap();
    assert_eq!(inventory.recovery().unwrap().expired_on_open, 1);
    assert_eq!(inventory.confirm(short.id), Err(ReservationError::Expired));
    assert_eq!(inventory.status(long.id), Ok(ReservationState::Held));
    assert_eq!(inventory.item(mug).unwrap().available, 4);
    drop(inventory);
    // The expiry on open was journaled too.
    let inventory = Inventory::open(&dir).unwrap();
    assert_eq!(inventory.status(short.id), Ok(ReservationState::Expired));
    inventory.audit().unwrap();
}

#[test]
fn a_torn_tail_is_cut_and_corruption_elsewhere_is_an_error() {
    let dir = Dir::new("torn");
    let inventory = Inventory::open(&dir).unwrap();
    let mug = inventory.register_item(5).unwrap();
    let kept = inventory
        .reserve(CartId::new(1), &[Line::new(mug, 1)], TTL)
        .unwrap();
    drop(inventory);
    // A half-written record at the end of the last segment: a crash during a write.
    let last = segments(&dir).pop().unwrap();
    let len = std::fs::metadata(&last).unwrap().len();
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&last)
            .unwrap();
        file.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, 5]).unwrap();
    }
    let inventory = Inventory::open(&dir).unwrap();
    assert_eq!(inventory.recovery().unwrap().torn_bytes, 9);
    assert_eq!(std::fs::metadata(&last).unwrap().len(), len);
    assert_eq!(inventory.status(kept.id), Ok(ReservationState::Held));
    inventory.confirm(kept.id).unwrap();
    drop(inventory);
    // A flipped byte inside a segment that is not the last: refused, with the place.
    let first = segments(&dir).remove(0);
    let mut bytes = std::fs::read(&first).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 0x55;
    std::fs::write(&first, &bytes).unwrap();
    match Inventory::open(&dir) {
        Err(JournalError::Corrupt { path, .. }) => assert_eq!(path, first),
        other => panic!("{other:?}"),
    }
}

#[test]
fn files_of_another_inventory_are_refused() {
    let a = Dir::new("mix-a");
    let b = Dir::new("mix-b");
    Inventory::open(&a).unwrap().register_item(1).unwrap();
    Inventory::open(&b).unwrap().register_item(1).unwrap();
    let foreign = segments(&b).remove(0);
    std::fs::copy(&foreign, a.0.join("00000000000000ff.journal")).unwrap();
    assert!(matches!(
        Inventory::open(&a),
        Err(JournalError::Inconsistent { .. })
    ));
}

#[test]
fn a_directory_is_open_in_one_inventory_at_a_time() {
    let dir = Dir::new("locked");
    let first = Inventory::open(&dir).unwrap();
    let mug = first.register_item(5).unwrap();
    // A second writer would append its own segments beside the first's.
    assert!(matches!(
        Inventory::open(&dir),
        Err(JournalError::Locked { .. })
    ));
    assert_eq!(
        first.item(mug).unwrap().available,
        5,
        "the refused open changed nothing"
    );
    drop(first);
    let reopened = Inventory::open(&dir).unwrap();
    assert_eq!(reopened.item(mug).unwrap().available, 5);
}

#[test]
fn snapshots_bound_the_replay_and_keep_the_state() {
    let dir = Dir::new("snapshot");
    let inventory = Inventory::open(&dir).unwrap();
    let mug = inventory.register_sku("MUG-1", 1000).unwrap();
    let mut live = Vec::new();
    for cart in 0..200 {
        let r = inventory
            .reserve(CartId::new(cart), &[Line::new(mug, 2)], TTL)
            .unwrap();
        match cart % 3 {
            0 => {
                inventory.confirm(r.id).unwrap();
            }
            1 => inventory.release(r.id).unwrap(),
            _ => live.push(r.id),
        }
    }
    let key = RequestKey(77);
    let keyed = inventory
        .reserve_once(key, CartId::new(5000), &[Line::new(mug, 1)], TTL)
        .unwrap();
    let before = inventory.item(mug).unwrap();
    inventory.snapshot().unwrap();
    // Changes after the snapshot go to a new segment.
    let after_snapshot = inventory
        .reserve(CartId::new(9999), &[Line::new(mug, 1)], TTL)
        .unwrap();
    inventory.snapshot().unwrap();
    drop(inventory);
    assert_eq!(segments(&dir).len(), 1, "the covered segments are gone");

    let inventory = Inventory::open(&dir).unwrap();
    let recovery = inventory.recovery().unwrap();
    assert!(recovery.snapshot.is_some());
    assert!(recovery.records < 10, "{recovery:?}");
    let after = inventory.item(mug).unwrap();
    assert_eq!((after.sold, after.held - 1), (before.sold, before.held));
    for id in &live {
        assert_eq!(inventory.status(*id), Ok(ReservationState::Held));
    }
    assert_eq!(
        inventory.status(after_snapshot.id),
        Ok(ReservationState::Held)
    );
    assert_eq!(
        inventory.reserve_once(key, CartId::new(5000), &[Line::new(mug, 1)], TTL),
        Ok(atomic_stock::Receipt {
            deadline: inventory.reservation(keyed.id).unwrap().deadline,
            ..keyed
        })
    );
    inventory.audit().unwrap();
}

#[test]
fn a_retried_request_never_takes_twice_even_across_a_restart() {
    let dir = Dir::new("keys");
    let inventory = Inventory::open(&dir).unwrap();
    let mug = inventory.register_item(10).unwrap();
    let cart = CartId::new(1);
    let key = RequestKey(0xfeed);
    let first = inventory
        .reserve_once(key, cart, &[Line::new(mug, 2)], TTL)
        .unwrap();
    assert_eq!(
        inventory.reserve_once(key, cart, &[Line::new(mug, 2)], TTL),
        Ok(first)
    );
    assert_eq!(inventory.item(mug).unwrap().held, 2);
    drop(inventory);
    let inventory = Inventory::open(&dir).unwrap();
    let retry = inventory
        .reserve_once(key, cart, &[Line::new(mug, 2)], TTL)
        .unwrap();
    assert_eq!(retry.id, first.id);
    assert_eq!(inventory.item(mug).unwrap().held, 2);
    // Another key adds to the cart's reservation, as a plain reserve would.
    inventory
        .reserve_once(RequestKey(1), cart, &[Line::new(mug, 2)], TTL)
        .unwrap();
    assert_eq!(inventory.item(mug).unwrap().held, 4);
}

#[test]
fn concurrent_tries_of_one_request_reserve_once() {
    let inventory = Inventory::new();
    let mug = inventory.register_item(1000).unwrap();
    let ids: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..50)
                        .map(|k| {
                            inventory
                                .reserve_once(
                                    RequestKey(k),
                                    CartId::new(k as u64),
                                    &[Line::new(mug, 1)],
                                    TTL,
                                )
                                .unwrap()
                                .id
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(inventory.item(mug).unwrap().held, 50);
}

#[test]
fn keys_are_forgotten_after_their_retention() {
    let clock = std::sync::Arc::new(atomic_stock::ManualClock::new());
    let inventory = Inventory::builder()
        .clock(clock.clone())
        .remember_requests(Duration::from_secs(60), 1000)
        .build();
    let mug = inventory.register_item(10).unwrap();
    let key = RequestKey(9);
    inventory
        .reserve_once(key, CartId::new(1), &[Line::new(mug, 1)], TTL)
        .unwrap();
    clock.advance(Duration::from_secs(61));
    inventory
        .reserve_once(key, CartId::new(1), &[Line::new(mug, 1)], TTL)
        .unwrap();
    assert_eq!(inventory.item(mug).unwrap().held, 2);
}

#[test]
fn the_journal_reads_as_a_stream_of_events() {
    let dir = Dir::new("stream");
    let inventory = Inventory::open(&dir).unwrap();
    let mug = inventory.register_sku("MUG-1", 5).unwrap();
    let r = inventory
        .reserve(CartId::new(8), &[Line::new(mug, 2)], TTL)
        .unwrap();
    inventory.extend(r.id, TTL).unwrap();
    inventory.confirm(r.id).unwrap();
    drop(inventory);
    let mut reader = JournalReader::open(&dir).unwrap();
    let events: Vec<Event> = reader.by_ref().map(Result::unwrap).collect();
    assert!(
        matches!(&events[0], Event::Registered { item, sku: Some(s), initial: 5 }
        if *item == mug && s == "MUG-1")
    );
    assert!(
        matches!(&events[1], Event::Held { id, change: HoldChange::Reserve, version: 0, .. }
        if *id == r.id)
    );
    assert!(
        matches!(&events[2], Event::Held { change: HoldChange::Extend, version, .. }
        if *version > 0)
    );
    assert!(
        matches!(&events[3], Event::Finished { id, outcome: Outcome::Confirmed, lines }
        if *id == r.id && lines == &[Line::new(mug, 2)])
    );
    assert_eq!(events.len(), 4);
    // Resuming from a position gives what came after it.
    let position = reader.position();
    let inventory = Inventory::open(&dir).unwrap();
    inventory.restock(mug, 1).unwrap();
    drop(inventory);
    let more: Vec<Event> = JournalReader::from_position(&dir, position)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        matches!(&more[..], [Event::Adjusted { delta: 1, .. }]),
        "{more:?}"
    );
}

#[test]
fn buffered_mode_syncs_on_request_and_async_callers_await_the_disk() {
    let dir = Dir::new("buffered");
    let inventory = Inventory::builder()
        .durability(Durability::Buffered {
            window: Duration::from_millis(5),
        })
        .open_dir(&dir)
        .unwrap();
    let mug = inventory.register_item(5).unwrap();
    let r = inventory
        .reserve(CartId::new(1), &[Line::new(mug, 2)], TTL)
        .unwrap();
    inventory.sync().unwrap();
    drop(inventory);
    let inventory = Inventory::open(&dir).unwrap();
    assert_eq!(inventory.status(r.id), Ok(ReservationState::Held));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let receipt = runtime
        .block_on(inventory.reserve_async(CartId::new(2), &[Line::new(mug, 1)], TTL))
        .unwrap();
    runtime.block_on(inventory.sync_async()).unwrap();
    drop(inventory);
    let inventory = Inventory::open(&dir).unwrap();
    assert_eq!(inventory.status(receipt.id), Ok(ReservationState::Held));
}

#[test]
fn without_a_journal_the_journal_calls_say_so() {
    let inventory = Inventory::new();
    assert!(!inventory.has_journal());
    assert!(matches!(inventory.sync(), Err(JournalError::Off)));
    assert!(matches!(inventory.snapshot(), Err(JournalError::Off)));
    assert!(inventory.recovery().is_none());
}

#[test]
fn a_waiting_reserve_answers_once_its_reservation_is_on_disk() {
    let dir = Dir::new("waiting");
    let inventory = Inventory::open(&dir).unwrap();
    let mug = inventory.register_item(0).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let receipt = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(20));
            inventory.restock(mug, 2).unwrap();
        });
        runtime
            .block_on(inventory.reserve_waiting(CartId::new(1), &[Line::new(mug, 2)], TTL))
            .unwrap()
    });
    drop(inventory);
    let inventory = Inventory::open(&dir).unwrap();
    assert_eq!(inventory.status(receipt.id), Ok(ReservationState::Held));
    assert_eq!(inventory.item(mug).unwrap().held, 2);
}

#[test]
fn bulk_loads_come_back_with_their_ids_and_skus() {
    let dir = Dir::new("load");
    let inventory = Inventory::open(&dir).unwrap();
    inventory.register_item(1).unwrap();
    let loaded = inventory
        .load_csv("sku,initial\nMUG-1,5\nTEA-9,2\n".as_bytes())
        .unwrap();
    let more = inventory
        .load_catalog((0..50).map(|i| (format!("SKU-{i}"), i)))
        .unwrap();
    drop(inventory);
    let inventory = Inventory::open(&dir).unwrap();
    assert_eq!(inventory.items(), 53);
    let ids: Vec<ItemId> = loaded.ids().collect();
    assert_eq!(inventory.item_by_sku("MUG-1"), Some(ids[0]));
    assert_eq!(inventory.item(ids[1]).unwrap().available, 2);
    for (i, id) in more.ids().enumerate() {
        assert_eq!(inventory.sku(id), Some(format!("SKU-{i}").as_str()));
        assert_eq!(inventory.item(id).unwrap().available, i as i64);
    }
}

/// An inventory in `dir` with a buffered journal (1 ms window), segments of `segment_bytes`
/// and an automatic snapshot every `snapshot_every` segments (0: none).
fn small_segments(dir: &Dir, segment_bytes: u64, snapshot_every: u64) -> Inventory {
    Inventory::builder()
        .durability(Durability::Buffered {
            window: Duration::from_millis(1),
        })
        .journal_segment_bytes(segment_bytes)
        .journal_snapshot_every(snapshot_every)
        .open_dir(dir)
        .unwrap()
}

/// Recovery and `JournalReader` read a segment whole, so no segment may grow without bound:
/// once one holds `journal_segment_bytes`, the next begins. Everything still comes back.
#[test]
fn segments_stay_bounded_and_everything_comes_back_across_them() {
    const LIMIT: u64 = 64 << 10;
    const LIFECYCLES: u64 = 6_000;
    let dir = Dir::new("segments");
    // Every record stays in the segments (no automatic snapshot), to be read back below.
    let inventory = small_segments(&dir, LIMIT, 0);
    let mug = inventory
        .register_sku("MUG-1", LIFECYCLES as i64 + 1)
        .unwrap();
    for n in 0..LIFECYCLES {
        let r = inventory
            .reserve(CartId::new(n + 1), &[Line::new(mug, 1)], TTL)
            .unwrap();
        inventory.confirm(r.id).unwrap();
        if n % 100 == 99 {
            // A batch at most every 100 lifecycles (about 6 KiB), whatever the timer does.
            inventory.sync().unwrap();
        }
    }
    let held = inventory
        .reserve(CartId::new(LIFECYCLES + 1), &[Line::new(mug, 1)], TTL)
        .unwrap();
    inventory.sync().unwrap();
    drop(inventory);
    let files = segments(&dir);
    assert!(
        files.len() > 3,
        "{} segment(s) for about 340 KiB of records",
        files.len()
    );
    for file in &files {
        let len = std::fs::metadata(file).unwrap().len();
        assert!(
            len < LIMIT + (32 << 10),
            "{} holds {len} bytes: more than the limit and a batch",
            file.display()
        );
    }
    let confirmed = JournalReader::open(&dir)
        .unwrap()
        .map(Result::unwrap)
        .filter(|event| {
            matches!(
                event,
                Event::Finished {
                    outcome: Outcome::Confirmed,
                    ..
                }
            )
        })
        .count();
    assert_eq!(confirmed as u64, LIFECYCLES);
    let inventory = Inventory::open(&dir).unwrap();
    let levels = inventory.item(mug).unwrap();
    assert_eq!(
        (levels.available, levels.held, levels.sold),
        (0, 1, LIFECYCLES as i64)
    );
    assert_eq!(inventory.status(held.id), Ok(ReservationState::Held));
    inventory.audit().unwrap();
}

/// With automatic snapshots, the directory stays bounded however much is appended: a snapshot
/// follows every few closed segments and removes them, and a reopen gets everything back.
#[test]
fn automatic_snapshots_keep_the_directory_bounded() {
    const LIMIT: u64 = 64 << 10;
    const EVERY: u64 = 1;
    const LIFECYCLES: u64 = 6_000;
    let dir = Dir::new("auto-snapshot");
    let inventory = small_segments(&dir, LIMIT, EVERY);
    let mug = inventory
        .register_sku("MUG-1", LIFECYCLES as i64 + 1)
        .unwrap();
    let mut most = 0;
    let mut confirmed = Vec::new();
    for n in 0..LIFECYCLES {
        let r = inventory
            .reserve(CartId::new(n + 1), &[Line::new(mug, 1)], TTL)
            .unwrap();
        inventory.confirm(r.id).unwrap();
        confirmed.push(r.id);
        if n % 100 == 99 {
            inventory.sync().unwrap();
            most = most.max(segments(&dir).len());
        }
    }
    let held = inventory
        .reserve(CartId::new(LIFECYCLES + 1), &[Line::new(mug, 1)], TTL)
        .unwrap();
    inventory.sync().unwrap();
    // About 340 KiB of records: 5 or more segments without snapshots. The snapshot thread
    // looks every 100 ms, and a segment fills in a few milliseconds here, so the count may
    // run ahead of it for a while; it must come back down once appending stops.
    let mut settled = segments(&dir).len();
    for _ in 0..100 {
        if settled as u64 <= EVERY + 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        settled = segments(&dir).len();
    }
    assert!(
        settled as u64 <= EVERY + 1,
        "{settled} segments left (at most {most} seen while appending)"
    );
    assert!(
        std::fs::read_dir(&dir.0)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "snapshot"))
            .count()
            == 1,
        "one snapshot, the newest"
    );
    drop(inventory);
    let inventory = Inventory::open(&dir).unwrap();
    let levels = inventory.item(mug).unwrap();
    assert_eq!(
        (levels.available, levels.held, levels.sold),
        (0, 1, LIFECYCLES as i64)
    );
    assert_eq!(inventory.status(held.id), Ok(ReservationState::Held));
    // The newest outcomes are remembered across the restart (a snapshot keeps as many per
    // shard as the running inventory does).
    let last = *confirmed.last().unwrap();
    assert_eq!(inventory.status(last), Ok(ReservationState::Confirmed));
    inventory.audit().unwrap();
}
