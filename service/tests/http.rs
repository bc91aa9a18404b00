//! The API end to end: a server on a loopback port of its own per test, driven through real
//! HTTP/1 connections. No assertion depends on timing; the one test that waits for the reaper
//! polls until it has run.

use atomic_stock::{Inventory, ItemId, Line, Receipt};
use atomic_stock_service::client::{Client, Reply};
use atomic_stock_service::{
    Audit, Decision, ErrorBody, Extend, ItemView, LineIn, NewItem, Outcome, ReleaseLines, Reserve,
    Restock, SetCart, Status, WireState,
};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const TTL_MS: u64 = 600_000;

/// A running server: its address, the inventory it serves, and how to stop it.
struct Server {
    addr: SocketAddr,
    inventory: Arc<Inventory>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start() -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inventory = Arc::new(Inventory::new());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(atomic_stock_service::serve(
            listener,
            inventory.clone(),
            async {
                stopped.await.ok();
            },
        ));
        Server {
            addr,
            inventory,
            stop,
            task,
        }
    }

    async fn client(&self) -> Client {
        Client::connect(self.addr).await.unwrap()
    }

    /// Graceful shutdown: the server returns once its connections are closed.
    async fn stop(self, clients: Vec<Client>) {
        drop(clients);
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

/// The reply's error body, after checking its status.
fn error(reply: &Reply, status: u16) -> ErrorBody {
    assert_eq!(
        reply.status.as_u16(),
        status,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json().unwrap()
}

fn ok<T: serde::de::DeserializeOwned>(reply: &Reply, status: u16) -> T {
    assert_eq!(
        reply.status.as_u16(),
        status,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json().unwrap()
}

async fn register(client: &mut Client, sku: &str, quantity: i64) -> ItemView {
    let reply = client
        .post(
            "/items",
            &NewItem {
                sku: sku.into(),
                quantity,
            },
        )
        .await
        .unwrap();
    ok(&reply, 201)
}

fn reserve(cart: u64, lines: Vec<LineIn>) -> Reserve {
    Reserve {
        cart: cart.into(),
        lines,
        ttl_ms: TTL_MS,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_from_registration_to_sale() {
    let server = Server::start().await;
    let mut client = server.client().await;

    let mug = register(&mut client, "MUG-1", 5).await;
    assert_eq!(
        (mug.sku.as_deref(), mug.levels.available),
        (Some("MUG-1"), 5)
    );
    let tea = register(&mut client, "TEA-9", 2).await;
    let restocked: ItemView = ok(
        &client
            .post(
                &format!("/items/{}/restock", tea.item.get()),
                &Restock { quantity: 3 },
            )
            .await
            .unwrap(),
        200,
    );
    assert_eq!(
        (restocked.levels.available, restocked.levels.received),
        (5, 5)
    );
    let by_sku: ItemView = ok(&client.get("/skus/TEA-9").await.unwrap(), 200);
    assert_eq!(by_sku.item, tea.item);

    // Lines by SKU and by id, in one all-or-nothing reserve.
    let request = reserve(1, vec![LineIn::sku("MUG-1", 2), LineIn::item(tea.item, 3)]);
    let receipt: Receipt = ok(&client.post("/reservations", &request).await.unwrap(), 201);
    let path = format!("/reservations/{}", receipt.id);
    let status: Status = ok(&client.get(&path).await.unwrap(), 200);
    assert_eq!(status.state, WireState::Held);
    assert_eq!(
        status.lines,
        Some(vec![Line::new(mug.item, 2), Line::new(tea.item, 3)])
    );
    let held: ItemView = ok(
        &client
            .get(&format!("/items/{}", mug.item.get()))
            .await
            .unwrap(),
        200,
    );
    assert_eq!((held.levels.available, held.levels.held), (3, 2));

    // A slow payment, and a change of mind on one tea.
    let extended: Receipt = ok(
        &client
            .post(&format!("{path}/extend"), &Extend { ttl_ms: TTL_MS })
            .await
            .unwrap(),
        200,
    );
    assert_eq!(extended.id, receipt.id);
    let after: Status = ok(
        &client
            .post(
                &format!("{path}/release-lines"),
                &ReleaseLines {
                    lines: vec![LineIn::sku("TEA-9", 1)],
                },
            )
            .await
            .unwrap(),
        200,
    );
    assert_eq!(
        after.lines,
        Some(vec![Line::new(mug.item, 2), Line::new(tea.item, 2)])
    );

    let decision: Decision = ok(
        &client.post_empty(&format!("{path}/confirm")).await.unwrap(),
        200,
    );
    assert_eq!(
        (decision.id, decision.outcome),
        (Some(receipt.id), Outcome::Confirmed)
    );
    let status: Status = ok(&client.get(&path).await.unwrap(), 200);
    assert_eq!((status.state, status.lines), (WireState::Confirmed, None));
    let sold: ItemView = ok(
        &client
            .get(&format!("/items/{}", tea.item.get()))
            .await
            .unwrap(),
        200,
    );
    assert_eq!((sold.levels.available, sold.levels.sold), (3, 2));

    // By cart: set, read, confirm; another cart set and released.
    let set = SetCart {
        lines: vec![LineIn::sku("MUG-1", 1)],
        ttl_ms: TTL_MS,
    };
    let receipt: Receipt = ok(&client.put("/carts/2", &set).await.unwrap(), 200);
    let cart: Status = ok(&client.get("/carts/2").await.unwrap(), 200);
    assert_eq!((cart.id, cart.state), (receipt.id, WireState::Held));
    let decision: Decision = ok(&client.post_empty("/carts/2/confirm").await.unwrap(), 200);
    assert_eq!(
        (decision.cart, decision.outcome),
        (Some(2.into()), Outcome::Confirmed)
    );
    let _: Receipt = ok(&client.put("/carts/3", &set).await.unwrap(), 200);
    let _: Receipt = ok(
        &client
            .post("/carts/3/extend", &Extend { ttl_ms: TTL_MS })
            .await
            .unwrap(),
        200,
    );
    let decision: Decision = ok(&client.post_empty("/carts/3/release").await.unwrap(), 200);
    assert_eq!(decision.outcome, Outcome::Released);

    let audit: Audit = ok(&client.get("/audit").await.unwrap(), 200);
    assert_eq!(
        (audit.items, audit.live_reservations, audit.held, audit.sold),
        (2, 0, 0, 5)
    );
    server.stop(vec![client]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shortfall_is_409_with_the_item_and_what_was_available() {
    let server = Server::start().await;
    let mut client = server.client().await;
    let mug = register(&mut client, "MUG-1", 5).await;
    let tea = register(&mut client, "TEA-9", 1).await;

    let request = reserve(1, vec![LineIn::sku("MUG-1", 1), LineIn::sku("TEA-9", 2)]);
    let refused = error(&client.post("/reservations", &request).await.unwrap(), 409);
    assert_eq!(refused.error, "shortfall");
    assert_eq!(
        serde_json::Value::Object(refused.detail),
        json!({ "item": tea.item.get(), "sku": "TEA-9", "requested": 2, "available": 1 })
    );
    // All or nothing: the mug was not taken either.
    let levels: ItemView = ok(
        &client
            .get(&format!("/items/{}", mug.item.get()))
            .await
            .unwrap(),
        200,
    );
    assert_eq!((levels.levels.available, levels.levels.held), (5, 0));
    server.stop(vec![client]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirming_twice_answers_already_confirmed_and_finished_reservations_conflict() {
    let server = Server::start().await;
    let mut client = server.client().await;
    register(&mut client, "MUG-1", 5).await;
    let request = reserve(1, vec![LineIn::sku("MUG-1", 1)]);
    let receipt: Receipt = ok(&client.post("/reservations", &request).await.unwrap(), 201);
    let confirm = format!("/reservations/{}/confirm", receipt.id);

    let first: Decision = ok(&client.post_empty(&confirm).await.unwrap(), 200);
    let second: Decision = ok(&client.post_empty(&confirm).await.unwrap(), 200);
    assert_eq!(
        (first.outcome, second.outcome),
        (Outcome::Confirmed, Outcome::AlreadyConfirmed)
    );
    let release = format!("/reservations/{}/release", receipt.id);
    let refused = error(&client.post_empty(&release).await.unwrap(), 409);
    assert_eq!(
        (refused.error.as_str(), &refused.detail["state"]),
        ("confirmed", &json!("confirmed"))
    );

    let released: Receipt = ok(&client.post("/reservations", &request).await.unwrap(), 201);
    let path = format!("/reservations/{}", released.id);
    let _: Decision = ok(
        &client.post_empty(&format!("{path}/release")).await.unwrap(),
        200,
    );
    let refused = error(
        &client.post_empty(&format!("{path}/confirm")).await.unwrap(),
        409,
    );
    assert_eq!(refused.error, "released");
    server.stop(vec![client]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_are_404() {
    let server = Server::start().await;
    let mut client = server.client().await;
    register(&mut client, "MUG-1", 5).await;

    // A well-formed id this inventory never issued.
    let foreign = error(
        &client
            .post_empty("/reservations/00000000-1-1/confirm")
            .await
            .unwrap(),
        404,
    );
    assert_eq!(foreign.error, "unknown_reservation");
    let status = error(
        &client.get("/reservations/00000000-1-1").await.unwrap(),
        404,
    );
    assert_eq!(status.error, "unknown_reservation");
    let item = error(&client.get("/items/99").await.unwrap(), 404);
    assert_eq!(
        (item.error.as_str(), &item.detail["item"]),
        ("unknown_item", &json!(99))
    );
    let sku = error(&client.get("/skus/NOPE").await.unwrap(), 404);
    assert_eq!(sku.error, "unknown_sku");
    let in_line = error(
        &client
            .post("/reservations", &reserve(1, vec![LineIn::sku("NOPE", 1)]))
            .await
            .unwrap(),
        404,
    );
    assert_eq!(
        (in_line.error.as_str(), &in_line.detail["sku"]),
        ("unknown_sku", &json!("NOPE"))
    );
    let by_id = error(
        &client
            .post(
                "/reservations",
                &reserve(1, vec![LineIn::item(ItemId::new(7), 1)]),
            )
            .await
            .unwrap(),
        404,
    );
    assert_eq!(by_id.error, "unknown_item");
    let restock = error(
        &client
            .post("/items/7/restock", &Restock { quantity: 1 })
            .await
            .unwrap(),
        404,
    );
    assert_eq!(restock.error, "unknown_item");
    let cart = error(&client.post_empty("/carts/5/confirm").await.unwrap(), 404);
    assert_eq!(
        (cart.error.as_str(), &cart.detail["cart"]),
        ("no_reservation", &json!(5))
    );
    let cart = error(&client.get("/carts/5").await.unwrap(), 404);
    assert_eq!(cart.error, "no_reservation");
    let route = error(&client.get("/nowhere").await.unwrap(), 404);
    assert_eq!(route.error, "no_route");
    server.stop(vec![client]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_400_or_422_and_changes_nothing() {
    let server = Server::start().await;
    let mut client = server.client().await;
    let mug = register(&mut client, "MUG-1", 5).await;
    let send = |body: &str| Some(body.as_bytes().to_vec());
    let post = hyper::Method::POST;

    let bad_json = error(
        &client
            .send(post.clone(), "/reservations", send("{\"cart\": 1,"))
            .await
            .unwrap(),
        400,
    );
    assert_eq!(bad_json.error, "bad_json");
    let wrong_shape = error(
        &client
            .send(post.clone(), "/reservations", send("{\"cart\": \"one\"}"))
            .await
            .unwrap(),
        422,
    );
    assert_eq!(wrong_shape.error, "invalid_body");
    let no_body = error(&client.post_empty("/reservations").await.unwrap(), 415);
    assert_eq!(no_body.error, "not_json");
    let bad_id = error(
        &client
            .post_empty("/reservations/not-an-id/confirm")
            .await
            .unwrap(),
        400,
    );
    assert_eq!(bad_id.error, "bad_path");
    let bad_cart = error(&client.get("/carts/minus-one").await.unwrap(), 400);
    assert_eq!(bad_cart.error, "bad_path");

    let refusals = [
        (reserve(1, vec![]), "empty_cart"),
        (
            reserve(1, vec![LineIn::sku("MUG-1", 0)]),
            "invalid_quantity",
        ),
        (
            reserve(1, vec![LineIn::sku("MUG-1", -3)]),
            "invalid_quantity",
        ),
        (
            reserve(
                1,
                vec![LineIn {
                    item: Some(mug.item),
                    sku: Some("MUG-1".into()),
                    quantity: 1,
                }],
            ),
            "invalid_line",
        ),
        (
            Reserve {
                ttl_ms: 0,
                ..reserve(1, vec![LineIn::sku("MUG-1", 1)])
            },
            "invalid_ttl",
        ),
    ];
    for (request, code) in refusals {
        let refused = error(&client.post("/reservations", &request).await.unwrap(), 422);
        assert_eq!(refused.error, code, "{request:?}");
    }
    let duplicate = error(
        &client
            .post(
                "/items",
                &NewItem {
                    sku: "MUG-1".into(),
                    quantity: 1,
                },
            )
            .await
            .unwrap(),
        409,
    );
    assert_eq!(
        (duplicate.error.as_str(), &duplicate.detail["existing"]),
        ("duplicate_sku", &json!(mug.item.get()))
    );
    let negative = error(
        &client
            .post(
                "/items",
                &NewItem {
                    sku: "TEA-9".into(),
                    quantity: -1,
                },
            )
            .await
            .unwrap(),
        422,
    );
    assert_eq!(negative.error, "invalid_quantity");

    let audit: Audit = ok(&client.get("/audit").await.unwrap(), 200);
    assert_eq!(
        (
            audit.items,
            audit.available,
            audit.held,
            audit.live_reservations
        ),
        (1, 5, 0, 0)
    );
    server.stop(vec![client]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reaper_task_expires_what_is_not_paid_for() {
    let server = Server::start().await;
    let mut client = server.client().await;
    let mug = register(&mut client, "MUG-1", 1).await;
    let request = Reserve {
        ttl_ms: 1,
        ..reserve(1, vec![LineIn::sku("MUG-1", 1)])
    };
    let receipt: Receipt = ok(&client.post("/reservations", &request).await.unwrap(), 201);
    // Poll the item (a read that expires nothing itself) until the reaper has returned the
    // unit; there is no bound on how long that takes on a loaded machine.
    loop {
        let levels: ItemView = ok(
            &client
                .get(&format!("/items/{}", mug.item.get()))
                .await
                .unwrap(),
            200,
        );
        if levels.levels.available == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let refused = error(
        &client
            .post_empty(&format!("/reservations/{}/confirm", receipt.id))
            .await
            .unwrap(),
        409,
    );
    assert_eq!(refused.error, "expired");
    assert_eq!(server.inventory.stats().expiries, 1);
    server.stop(vec![client]).await;
}

/// Concurrent clients, each on its own connection, buy a scarce item until it is sold out,
/// releasing every third reservation instead of paying: every unit is sold exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_sell_out_without_overselling() {
    const CLIENTS: u64 = 16;
    const UNITS: i64 = 300;
    let server = Server::start().await;
    let mut admin = server.client().await;
    let item = register(&mut admin, "HOT-1", UNITS).await.item;

    let buyers: Vec<_> = (0..CLIENTS)
        .map(|cart| {
            let addr = server.addr;
            tokio::spawn(async move {
                let mut client = Client::connect(addr).await.unwrap();
                let (mut bought, mut reservations, mut quantity) =
                    (0i64, 0u64, 1 + cart as i64 % 3);
                loop {
                    let request = reserve(cart, vec![LineIn::item(item, quantity)]);
                    let reply = client.post("/reservations", &request).await.unwrap();
                    if reply.status == 409 {
                        let short = error(&reply, 409);
                        assert_eq!(short.error, "shortfall");
                        if short.detail["available"] == json!(0) {
                            return bought;
                        }
                        // Fewer left than asked: ask for one at a time from now on.
                        quantity = 1;
                        continue;
                    }
                    let receipt: Receipt = ok(&reply, 201);
                    reservations += 1;
                    let path = format!("/reservations/{}", receipt.id);
                    if reservations % 3 == 0 {
                        let d: Decision = ok(
                            &client.post_empty(&format!("{path}/release")).await.unwrap(),
                            200,
                        );
                        assert_eq!(d.outcome, Outcome::Released);
                    } else {
                        let d: Decision = ok(
                            &client.post_empty(&format!("{path}/confirm")).await.unwrap(),
                            200,
                        );
                        assert_eq!(d.outcome, Outcome::Confirmed);
                        bought += quantity;
                    }
                }
            })
        })
        .collect();
    let mut bought = 0;
    for buyer in buyers {
        bought += buyer.await.unwrap();
    }

    // A buyer stops when it sees none available; one still holding units sells or returns
    // them, and the last buyer buys what comes back. So, at the end, everything is sold.
    let levels: ItemView = ok(
        &admin.get(&format!("/items/{}", item.get())).await.unwrap(),
        200,
    );
    assert_eq!(levels.levels.sold, bought);
    assert_eq!(levels.levels.sold + levels.levels.available, UNITS);
    assert_eq!(levels.levels.sold, UNITS);
    assert_eq!((levels.levels.held, levels.levels.in_flight), (0, 0));
    let audit: Audit = ok(&admin.get("/audit").await.unwrap(), 200);
    assert_eq!(
        (audit.sold, audit.available, audit.held),
        (bought, UNITS - bought, 0)
    );
    server.inventory.audit().unwrap();
    server.stop(vec![admin]).await;
}
