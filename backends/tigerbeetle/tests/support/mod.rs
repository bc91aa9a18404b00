//! The server every test of this crate runs against, chosen by the environment:
//!
//! - `TIGERBEETLE_ADDRESS` (e.g. `127.0.0.1:3000`): a running cluster
//!   (`TIGERBEETLE_CLUSTER_ID`, default 0);
//! - or `TIGERBEETLE_BIN`: a `tigerbeetle` binary (a relative path is taken from the current
//!   directory, else from the workspace root, as `.ci/distributed.sh` gives it); the tests of
//!   one binary share a one-replica [`LocalCluster`] started on a free 127.0.0.1 port, stopped
//!   by its guard when the last of them ends (also when one panics). A binary that is missing
//!   or does not start fails the test: it never skips.
//! - Neither: outside CI the test prints `SKIPPED` and passes; with `CI=true` it fails.
#![allow(dead_code)]

use atomic_stock_tigerbeetle::LocalCluster;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

/// Where the tests' server is; holds a started cluster alive.
pub struct Server {
    pub cluster_id: u128,
    pub addresses: String,
    _started: Option<Arc<LocalCluster>>,
}

/// `TIGERBEETLE_BIN` as a path that exists (or the path as given, for the error message).
pub fn binary_from_env() -> Option<PathBuf> {
    let given = PathBuf::from(std::env::var_os("TIGERBEETLE_BIN")?);
    if given.is_relative() && !given.exists() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        if root.join(&given).exists() {
            return Some(root.join(given));
        }
    }
    Some(given)
}

/// The server for a test named `test`, or `None` (printed) to skip it.
pub fn server(test: &str) -> Option<Server> {
    static SHARED: Mutex<Weak<LocalCluster>> = Mutex::new(Weak::new());
    if let Ok(addresses) = std::env::var("TIGERBEETLE_ADDRESS") {
        let cluster_id = std::env::var("TIGERBEETLE_CLUSTER_ID")
            .ok()
            .map(|s| s.parse().expect("TIGERBEETLE_CLUSTER_ID: a number"))
            .unwrap_or(0);
        return Some(Server {
            cluster_id,
            addresses,
            _started: None,
        });
    }
    let Some(binary) = binary_from_env() else {
        let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !in_ci,
            "{test}: CI=true but neither TIGERBEETLE_BIN nor TIGERBEETLE_ADDRESS is set"
        );
        println!("SKIPPED: {test} (set TIGERBEETLE_BIN or TIGERBEETLE_ADDRESS to run it)");
        return None;
    };
    // A test that panicked while starting poisons the lock; the next one starts afresh.
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = match shared.upgrade() {
        Some(cluster) => cluster,
        None => {
            let cluster = LocalCluster::start(&binary, 1)
                .unwrap_or_else(|e| panic!("{test}: TIGERBEETLE_BIN={}: {e}", binary.display()));
            let cluster = Arc::new(cluster);
            *shared = Arc::downgrade(&cluster);
            cluster
        }
    };
    Some(Server {
        cluster_id: cluster.cluster_id(),
        addresses: cluster.addresses(),
        _started: Some(cluster),
    })
}

/// A fresh namespace for each backend a test builds
/// (random: distinct across runs on one `TIGERBEETLE_ADDRESS` cluster too).
pub fn namespace() -> u32 {
    (tigerbeetle::id() as u32).max(1)
}
