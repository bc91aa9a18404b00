//! The contract suite against the in-process engine, [`Inventory`]: the reference every remote
//! backend is held to.

use atomic_stock::Inventory;
use atomic_stock_contract::{
    bad_input, concurrent_audit, linearizability, model, races, Cases, Setup, Time,
};
use std::future::{ready, Ready};

/// One shard, every finished outcome remembered (the model remembers them all), the suite's
/// clock and time-to-live bound.
fn inventory(setup: Setup) -> Ready<Inventory> {
    ready(
        Inventory::builder()
            .clock(setup.clock)
            .shards(1)
            .finished_memory(1 << 16)
            .max_ttl(setup.max_ttl)
            .build(),
    )
}

#[tokio::test]
async fn contract_model() {
    model(&inventory, Time::Driven, Cases::from_env(300, 80)).await;
}

#[tokio::test]
async fn contract_bad_input() {
    bad_input(&inventory, Time::Driven).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contract_races() {
    races(&inventory, Time::Driven, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contract_concurrent_audit() {
    concurrent_audit(&inventory, Time::Driven, 16, 2_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contract_linearizability() {
    linearizability(&inventory, 300, 3, 5).await;
}

/// The suite as a backend without a driven clock sees it (what TigerBeetle runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_wall_clock_subset() {
    model(&inventory, Time::Wall, Cases::from_env(50, 60)).await;
    bad_input(&inventory, Time::Wall).await;
    races(&inventory, Time::Wall, 40).await;
    concurrent_audit(&inventory, Time::Wall, 8, 500).await;
}
