//! One test per bug found by running the backend against a real server, each failing before
//! its fix, and the paths the contract suite does not reach (its carts have at most three
//! lines). Which server: `tests/support/mod.rs`.

mod support;

use atomic_stock::{
    Backend, CartId, Confirmation, Failure, ItemId, Line, ReservationError, ReservationState,
    ReserveError, TakeError,
};
use atomic_stock_tigerbeetle::TigerBeetle;
use std::future::Future;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(600);

/// Runs `test` with a connector for fresh backends on the shared server.
fn on_server<F, Fut>(name: &str, test: F)
where
    F: FnOnce(support::Server) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(server) = support::server(name) else {
        return;
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(test(server));
}

async fn backend(server: &support::Server, namespace: u32) -> TigerBeetle {
    TigerBeetle::connect(
        server.cluster_id,
        &server.addresses,
        namespace,
        Duration::from_secs(3_600),
        None,
    )
    .await
    .expect("connect")
}

async fn levels(b: &TigerBeetle, item: ItemId) -> (i64, i64, i64) {
    let l = b.item(item).await.expect("item").expect("registered");
    (l.available, l.held, l.sold)
}

/// Posting or voiding a pending transfer must repeat its code (or leave it zero): the server
/// answered `PendingTransferHasDifferentCode` to every release and confirm.
#[test]
fn release_and_confirm_of_a_two_line_reservation() {
    on_server(
        "release_and_confirm_of_a_two_line_reservation",
        |server| async move {
            let b = backend(&server, support::namespace()).await;
            let (x, y) = (
                b.register_item(6).await.unwrap(),
                b.register_item(6).await.unwrap(),
            );
            let lines = [Line::new(x, 4), Line::new(y, 3)];
            let released = b.reserve(CartId::new(2), &lines, TTL).await.unwrap().id;
            b.release(released).await.expect("release");
            assert_eq!(levels(&b, x).await, (6, 0, 0));
            assert_eq!(levels(&b, y).await, (6, 0, 0));
            let confirmed = b.reserve(CartId::new(2), &lines, TTL).await.unwrap().id;
            assert_eq!(b.confirm(confirmed).await.unwrap(), Confirmation::Confirmed);
            assert_eq!(
                b.confirm(confirmed).await.unwrap(),
                Confirmation::AlreadyConfirmed
            );
            assert_eq!(levels(&b, x).await, (2, 0, 4));
            assert_eq!(levels(&b, y).await, (3, 0, 3));
            let again = b.release(released).await;
            assert!(
                matches!(again, Err(Failure::Refused(ReservationError::Released))),
                "{again:?}"
            );
        },
    );
}

/// Two inventories (namespaces) on one cluster must not see each other's carts: a reserve for
/// cart 7 in one merged into cart 7's live reservation of the other.
#[test]
fn namespaces_on_one_cluster_are_separate() {
    on_server(
        "namespaces_on_one_cluster_are_separate",
        |server| async move {
            let a = backend(&server, support::namespace()).await;
            let b = backend(&server, support::namespace()).await;
            let item_a = a.register_item(5).await.unwrap();
            let item_b = b.register_item(5).await.unwrap();
            assert_eq!((item_a, item_b), (ItemId::new(0), ItemId::new(0)));
            let cart = CartId::new(7);
            let in_a = a.reserve(cart, &[Line::new(item_a, 2)], TTL).await.unwrap();
            let in_b = b.reserve(cart, &[Line::new(item_b, 1)], TTL).await.unwrap();
            assert_ne!(
                in_a.id, in_b.id,
                "a reservation of its own in each inventory"
            );
            assert_eq!(levels(&a, item_a).await, (3, 2, 0));
            assert_eq!(levels(&b, item_b).await, (4, 1, 0));
            assert_eq!(a.confirm(in_a.id).await.unwrap(), Confirmation::Confirmed);
            assert_eq!(b.confirm(in_b.id).await.unwrap(), Confirmation::Confirmed);
            assert_eq!(levels(&a, item_a).await, (3, 0, 2));
            assert_eq!(levels(&b, item_b).await, (4, 0, 1));
        },
    );
}

/// A query filter field that is 0 means "any": cart 0's live reservation was looked up among
/// every cart's transfers, and a reserve for cart 0 created a second reservation instead of
/// adding to its live one.
#[test]
fn cart_zero_adds_to_its_live_reservation() {
    on_server(
        "cart_zero_adds_to_its_live_reservation",
        |server| async move {
            let b = backend(&server, support::namespace()).await;
            let (x, y) = (
                b.register_item(6).await.unwrap(),
                b.register_item(6).await.unwrap(),
            );
            let other = b.reserve(CartId::new(1), &[Line::new(x, 1)], TTL).await;
            let zero = b.reserve(CartId::new(0), &[Line::new(y, 4)], TTL).await;
            b.release(other.unwrap().id).await.expect("release");
            let again = b.reserve(CartId::new(0), &[Line::new(y, 1)], TTL).await;
            assert_eq!(
                again.unwrap().id,
                zero.unwrap().id,
                "one reservation per cart"
            );
            assert_eq!(levels(&b, y).await, (1, 5, 0));
        },
    );
}

/// A void's id is derived from its hold, and `linked` is part of what the server compares when
/// an id exists: extending a released one-line reservation (its void unlinked, the extend's
/// linked) was answered `ExistsWithDifferentFlags`, a backend error, instead of `Released`.
#[test]
fn extend_after_release_is_refused_as_released() {
    on_server(
        "extend_after_release_is_refused_as_released",
        |server| async move {
            let b = backend(&server, support::namespace()).await;
            let x = b.register_item(6).await.unwrap();
            let id = b
                .reserve(CartId::new(0), &[Line::new(x, 4)], TTL)
                .await
                .unwrap()
                .id;
            b.release(id).await.expect("release");
            let extended = b.extend(id, TTL).await;
            assert!(
                matches!(extended, Err(Failure::Refused(ReservationError::Released))),
                "{extended:?}"
            );
            let confirmed = b.confirm(id).await;
            assert!(
                matches!(confirmed, Err(Failure::Refused(ReservationError::Released))),
                "{confirmed:?}"
            );
            assert_eq!(levels(&b, x).await, (6, 0, 0));
        },
    );
}

/// A hold refused for want of stock burns its transfer id (the server answers
/// `IdAlreadyFailed` to any later transfer with it). Hold ids were derived from the
/// reservation and its generation, so adding the same lines to a live cart again after a
/// shortfall was a backend error; the shortfall also reported the merged quantity as
/// requested instead of the added one.
#[test]
fn an_addition_refused_for_stock_can_be_retried() {
    on_server(
        "an_addition_refused_for_stock_can_be_retried",
        |server| async move {
            let b = backend(&server, support::namespace()).await;
            let x = b.register_item(6).await.unwrap();
            let cart = CartId::new(1);
            let id = b.reserve(cart, &[Line::new(x, 1)], TTL).await.unwrap().id;
            for _ in 0..2 {
                let short = b.reserve(cart, &[Line::new(x, 10)], TTL).await;
                let expected = TakeError::Shortfall {
                    item: x,
                    requested: 10,
                    available: 5,
                };
                assert!(
                    matches!(short, Err(Failure::Refused(ReserveError::Stock(e))) if e == expected),
                    "{short:?}"
                );
            }
            b.restock(x, 5).await.expect("restock");
            let again = b.reserve(cart, &[Line::new(x, 10)], TTL).await.unwrap();
            assert_eq!(again.id, id, "added to the live reservation");
            assert_eq!(levels(&b, x).await, (0, 11, 0));
        },
    );
}

/// A reservation of more lines than the first query for its transfers returns, extended and
/// grown (so that earlier generations' voids sit among its transfers), then confirmed: every
/// line is found, held once and sold once.
#[test]
fn many_lines_across_generations() {
    on_server("many_lines_across_generations", |server| async move {
        let b = backend(&server, support::namespace()).await;
        let mut items = Vec::new();
        for _ in 0..12 {
            items.push(b.register_item(10).await.unwrap());
        }
        let cart = CartId::new(3);
        let first: Vec<Line> = items[..9].iter().map(|&i| Line::new(i, 2)).collect();
        let id = b.reserve(cart, &first, TTL).await.unwrap().id;
        b.extend(id, TTL).await.expect("extend");
        let more: Vec<Line> = items[6..].iter().map(|&i| Line::new(i, 1)).collect();
        assert_eq!(b.reserve(cart, &more, TTL).await.unwrap().id, id);
        b.extend(id, TTL).await.expect("extend");
        for (k, &item) in items.iter().enumerate() {
            let held = match k {
                0..=5 => 2,
                6..=8 => 3,
                _ => 1,
            };
            assert_eq!(levels(&b, item).await, (10 - held, held, 0), "{item}");
        }
        assert_eq!(b.confirm(id).await.unwrap(), Confirmation::Confirmed);
        assert_eq!(b.confirm(id).await.unwrap(), Confirmation::AlreadyConfirmed);
        for (k, &item) in items.iter().enumerate() {
            let sold = match k {
                0..=5 => 2,
                6..=8 => 3,
                _ => 1,
            };
            assert_eq!(levels(&b, item).await, (10 - sold, 0, sold), "{item}");
        }
    });
}

/// Two reserves racing for one cart that holds no live reservation must end in one
/// reservation holding both carts' lines: each created a reservation of its own, and the cart
/// was held twice.
#[test]
fn reserves_racing_for_one_cart_make_one_reservation() {
    on_server(
        "reserves_racing_for_one_cart_make_one_reservation",
        |server| async move {
            let b = std::sync::Arc::new(backend(&server, support::namespace()).await);
            let (x, y) = (
                b.register_item(1_000).await.unwrap(),
                b.register_item(1_000).await.unwrap(),
            );
            let rounds = 40;
            for round in 0..rounds {
                let cart = CartId::new(100 + round);
                let (b1, b2) = (b.clone(), b.clone());
                let first =
                    tokio::spawn(async move { b1.reserve(cart, &[Line::new(x, 1)], TTL).await });
                let second =
                    tokio::spawn(async move { b2.reserve(cart, &[Line::new(y, 2)], TTL).await });
                let (first, second) = (first.await.unwrap(), second.await.unwrap());
                assert_eq!(
                    first.unwrap().id,
                    second.unwrap().id,
                    "round {round}: two reservations for one cart"
                );
            }
            let rounds = rounds as i64;
            assert_eq!(levels(&b, x).await, (1_000 - rounds, rounds, 0));
            assert_eq!(levels(&b, y).await, (1_000 - 2 * rounds, 2 * rounds, 0));
        },
    );
}

/// The server expires holds by itself at their timeout: `status` says so without changing
/// anything, a by-cart verb finds no reservation (as after the in-process reaper ran), and a
/// verb by id answers `Expired`; the units are available again.
#[test]
fn an_expired_reservation_as_status_and_the_by_cart_verbs_see_it() {
    on_server(
        "an_expired_reservation_as_status_and_the_by_cart_verbs_see_it",
        |server| async move {
            let b = backend(&server, support::namespace()).await;
            let x = b.register_item(3).await.unwrap();
            let cart = CartId::new(7);
            let r = b
                .reserve(cart, &[Line::new(x, 2)], Duration::from_secs(1))
                .await
                .unwrap();
            assert_eq!(b.status(r.id).await.unwrap(), ReservationState::Held);
            assert_eq!(
                b.status(r.id).await.unwrap(),
                ReservationState::Held,
                "a probe changes nothing"
            );
            assert_eq!(levels(&b, x).await, (1, 2, 0));
            // Timeouts are whole seconds on the server's clock.
            tokio::time::sleep(Duration::from_millis(2_500)).await;
            assert_eq!(b.status(r.id).await.unwrap(), ReservationState::Expired);
            assert!(matches!(
                b.confirm_cart(cart).await,
                Err(Failure::Refused(ReservationError::NoReservation { .. }))
            ));
            assert!(matches!(
                b.release_lines(r.id, &[Line::new(x, 1)]).await,
                Err(Failure::Refused(ReservationError::Expired))
            ));
            assert_eq!(levels(&b, x).await, (3, 0, 0));
        },
    );
}

/// A cart update replaces the lines, giving back only what is dropped; a partial release keeps
/// the rest held; a shrink leaves sold and received apart from what it took.
#[test]
fn set_cart_release_lines_and_shrink() {
    on_server("set_cart_release_lines_and_shrink", |server| async move {
        let b = backend(&server, support::namespace()).await;
        let (x, y) = (
            b.register_sku("X-1", 5).await.unwrap(),
            b.register_item(5).await.unwrap(),
        );
        assert_eq!(b.item_by_sku("X-1").await.unwrap(), Some(x));
        let cart = CartId::new(3);
        let r = b
            .reserve(cart, &[Line::new(x, 2), Line::new(y, 1)], TTL)
            .await
            .unwrap();
        let updated = b.set_cart(cart, &[Line::new(x, 4)], TTL).await.unwrap();
        assert_eq!(updated.id, r.id, "a cart update keeps the reservation");
        assert_eq!(
            (levels(&b, x).await, levels(&b, y).await),
            ((1, 4, 0), (5, 0, 0))
        );
        assert!(matches!(
            b.set_cart(cart, &[Line::new(x, 6)], TTL).await,
            Err(Failure::Refused(ReserveError::Stock(
                TakeError::Shortfall {
                    requested: 2,
                    available: 1,
                    ..
                }
            )))
        ));
        b.release_lines(r.id, &[Line::new(x, 3)]).await.unwrap();
        assert_eq!(levels(&b, x).await, (4, 1, 0));
        assert_eq!(b.confirm_cart(cart).await.unwrap(), Confirmation::Confirmed);
        assert_eq!(b.status(r.id).await.unwrap(), ReservationState::Confirmed);
        b.shrink(x, 3).await.unwrap();
        let l = b.item(x).await.unwrap().unwrap();
        assert_eq!((l.available, l.held, l.sold, l.received), (1, 0, 1, 2));
    });
}
