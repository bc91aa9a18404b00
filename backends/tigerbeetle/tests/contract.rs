//! The contract suite against a TigerBeetle cluster, as a [`Time::Wall`] backend (the server's
//! clock decides expiry, so the time-dependent cases are skipped).
//!
//! The server is not installable here, so this test runs only when one is given:
//! - `TIGERBEETLE_ADDRESS` (e.g. `3000`): a running cluster (`TIGERBEETLE_CLUSTER_ID`, default
//!   0). Each backend the suite asks for is a fresh random namespace on it.
//! - or `TIGERBEETLE_BIN`: a `tigerbeetle` binary; the test formats a one-replica data file in a
//!   temporary directory, starts it on a free 127.0.0.1 port, waits until it answers a request,
//!   and kills exactly that process when done.
//!
//! Without either, it prints `SKIPPED` and passes.

use atomic_stock_contract::{bad_input, model, races, Cases, Setup, Time};
use atomic_stock_tigerbeetle::TigerBeetle;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A server this test started, killed on drop.
struct Server {
    child: Child,
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(binary: &str) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let dir = std::env::temp_dir().join(format!("atomic-stock-tb-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("0_0.tigerbeetle");
    let status = Command::new(binary)
        .args([
            "format",
            "--cluster=0",
            "--replica=0",
            "--replica-count=1",
            "--development",
        ])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run tigerbeetle format");
    assert!(status.success(), "tigerbeetle format failed");
    let child = Command::new(binary)
        .args([
            "start",
            &format!("--addresses=127.0.0.1:{port}"),
            "--development",
        ])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tigerbeetle");
    (Server { child, dir }, format!("127.0.0.1:{port}"))
}

#[test]
fn contract_suite_on_tigerbeetle() {
    let (server, address) = match (
        std::env::var("TIGERBEETLE_ADDRESS"),
        std::env::var("TIGERBEETLE_BIN"),
    ) {
        (Ok(address), _) => (None, address),
        (_, Ok(binary)) => {
            let (server, address) = start(&binary);
            (Some(server), address)
        }
        _ => {
            println!(
                "SKIPPED: contract_suite_on_tigerbeetle (set TIGERBEETLE_ADDRESS or \
                 TIGERBEETLE_BIN to run it)"
            );
            return;
        }
    };
    let cluster_id: u128 = std::env::var("TIGERBEETLE_CLUSTER_ID")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let make = |setup: Setup| {
        let address = address.clone();
        async move {
            let namespace = (tigerbeetle::id() as u64) | 1;
            TigerBeetle::connect(cluster_id, &address, namespace, setup.max_ttl, None)
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
        // The first request waits for the server: readiness by asking it.
        let ready = tokio::time::timeout(
            Duration::from_secs(60),
            make(Setup {
                clock: Default::default(),
                max_ttl: Duration::from_secs(3600),
            }),
        )
        .await;
        assert!(ready.is_ok(), "TigerBeetle did not answer within 60 s");
        model(&make, Time::Wall, Cases::from_env(20, 40)).await;
        bad_input(&make, Time::Wall).await;
        races(&make, Time::Wall, 20).await;
    });
    drop(server);
}
