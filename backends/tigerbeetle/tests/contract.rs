//! The contract suite (`atomic-stock-contract`: model, bad input, races, concurrent audit,
//! linearizability)
//! against a TigerBeetle cluster, as a [`Time::Wall`] backend (the server's clock decides
//! expiry, so the time-dependent cases are skipped). Which server: `tests/support/mod.rs`.

mod support;

use atomic_stock_contract::{linearizability, run_all, Cases, Setup, Time};
use atomic_stock_tigerbeetle::TigerBeetle;

#[test]
fn contract_suite_on_tigerbeetle() {
    let Some(server) = support::server("contract_suite_on_tigerbeetle") else {
        return;
    };
    let make = |setup: Setup| {
        let addresses = server.addresses.clone();
        async move {
            TigerBeetle::connect(
                server.cluster_id,
                &addresses,
                support::namespace(),
                setup.max_ttl,
                None,
            )
            .await
            .expect("connect to TigerBeetle")
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        run_all(&make, Time::Wall, Cases::from_env(20, 40)).await;
        // Concurrent histories over two items (time frozen: nothing expires), each explained
        // by a sequential order; the server decides every take in one linked chain.
        linearizability(&make, 60, 3, 5).await;
    });
    drop(runtime);
    drop(server);
}
