//! [`LocalCluster`]: a throwaway Redis Cluster on 127.0.0.1 for tests, examples and the
//! comparison figures. Debian's `redis-server` and `redis-cli` must be installed
//! (`apt-get install -y redis-server redis-tools`).
//!
//! It starts one `redis-server` per node in a temporary directory, each on a free port (and
//! its cluster bus port, +10000), waits until each answers `PING`, creates the cluster with
//! `redis-cli --cluster create ... --cluster-yes`, and waits until every node reports
//! `cluster_state:ok`: readiness is asked of the servers, never slept for. Dropping it kills
//! exactly the processes it started and removes the directory.
//!
//! Everything here blocks: call it outside an async runtime, or in `spawn_blocking`.

use std::io;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long any readiness wait may take before it is an error.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// One server the cluster started.
#[derive(Debug)]
struct Node {
    port: u16,
    child: Option<Child>,
}

/// A Redis Cluster of local processes, stopped on drop.
#[derive(Debug)]
pub struct LocalCluster {
    dir: PathBuf,
    nodes: Vec<Node>,
}

fn other(what: impl Into<String>) -> io::Error {
    io::Error::other(what.into())
}

/// A port whose cluster bus port (+10000) is free too.
fn free_port() -> io::Result<u16> {
    for _ in 0..200 {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        if port > 55_000 {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return Ok(port);
        }
    }
    Err(other("no free port pair found"))
}

fn query(port: u16, command: &str) -> redis::RedisResult<String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(1))?;
    let mut words = command.split_whitespace();
    let mut cmd = redis::cmd(words.next().unwrap_or("PING"));
    for word in words {
        cmd.arg(word);
    }
    let value: redis::Value = cmd.query(&mut conn)?;
    Ok(match value {
        redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        redis::Value::SimpleString(s) => s,
        redis::Value::VerbatimString { text, .. } => text,
        redis::Value::Okay => "OK".to_owned(),
        other => format!("{other:?}"),
    })
}

/// Polls `check` until it holds, or fails after [`READY_WITHIN`].
fn wait_until(what: &str, mut check: impl FnMut() -> bool) -> io::Result<()> {
    let start = Instant::now();
    while !check() {
        if start.elapsed() > READY_WITHIN {
            return Err(other(format!("timed out waiting for {what}")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

impl LocalCluster {
    /// Starts `masters` masters with `replicas` replicas each (0 for none), with a node timeout
    /// of `node_timeout` (failure detection; the failover test uses a short one).
    pub fn start(masters: usize, replicas: usize, node_timeout: Duration) -> io::Result<Self> {
        Self::start_with(masters, replicas, node_timeout, None)
    }

    /// As [`start`](LocalCluster::start), with every node writing its append-only file and
    /// syncing it as `appendfsync` says (`"always"`: before each write is acknowledged;
    /// `"everysec"`: once a second), to compare a durable Redis.
    pub fn start_with_aof(
        masters: usize,
        replicas: usize,
        node_timeout: Duration,
        appendfsync: &str,
    ) -> io::Result<Self> {
        Self::start_with(masters, replicas, node_timeout, Some(appendfsync))
    }

    fn start_with(
        masters: usize,
        replicas: usize,
        node_timeout: Duration,
        appendfsync: Option<&str>,
    ) -> io::Result<Self> {
        static CLUSTERS: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "atomic-stock-redis-{}-{}",
            std::process::id(),
            // Relaxed: a unique number.
            CLUSTERS.fetch_add(1, Ordering::Relaxed)
        ));
        // A directory left by a crashed run with the same pid and number: start clean.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let mut cluster = LocalCluster {
            dir,
            nodes: Vec::new(),
        };
        for _ in 0..masters * (1 + replicas) {
            let port = free_port()?;
            let node_dir = cluster.dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir)?;
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", "nodes.conf"])
                .args([
                    "--cluster-node-timeout",
                    &node_timeout.as_millis().to_string(),
                ])
                .args(["--save", ""])
                .args([
                    "--appendonly",
                    if appendfsync.is_some() { "yes" } else { "no" },
                ])
                .args(["--appendfsync", appendfsync.unwrap_or("everysec")])
                .args(["--protected-mode", "no"])
                .args(["--logfile", "redis.log"])
                .arg("--dir")
                .arg(&node_dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| other(format!("cannot start redis-server (is it installed?): {e}")))?;
            cluster.nodes.push(Node {
                port,
                child: Some(child),
            });
        }
        for node in &cluster.nodes {
            wait_until(&format!("redis-server on port {}", node.port), || {
                query(node.port, "PING").is_ok_and(|r| r == "PONG")
            })?;
        }
        let status = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(
                cluster
                    .nodes
                    .iter()
                    .map(|n| format!("127.0.0.1:{}", n.port)),
            )
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| {
                other(format!(
                    "cannot run redis-cli (is redis-tools installed?): {e}"
                ))
            })?;
        if !status.success() {
            return Err(other(format!(
                "redis-cli --cluster create failed: {status}"
            )));
        }
        cluster.wait_ok()?;
        if replicas > 0 {
            // Every replica has finished its first synchronization, and every master counts
            // its replicas online (only those answer the acknowledgements `WAIT` asks for).
            for node in &cluster.nodes {
                wait_until("replicas in sync", || {
                    query(node.port, "INFO replication").is_ok_and(|info| {
                        if info.contains("role:slave") {
                            return info.contains("master_link_status:up");
                        }
                        let online = info
                            .lines()
                            .filter(|l| l.starts_with("slave") && l.contains("state=online"))
                            .count();
                        online >= replicas
                    })
                })?;
            }
        }
        Ok(cluster)
    }

    /// Waits until every running node reports `cluster_state:ok` with all slots assigned.
    pub fn wait_ok(&self) -> io::Result<()> {
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            wait_until("cluster_state:ok", || {
                query(node.port, "CLUSTER INFO").is_ok_and(|info| {
                    info.contains("cluster_state:ok")
                        && info.contains("cluster_slots_assigned:16384")
                })
            })?;
        }
        Ok(())
    }

    /// `redis://127.0.0.1:PORT` of every running node.
    #[must_use]
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect()
    }

    /// Ports of the running nodes that are masters now.
    pub fn masters(&self) -> io::Result<Vec<u16>> {
        let mut masters = Vec::new();
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            let info = query(node.port, "INFO replication").map_err(|e| other(e.to_string()))?;
            if info.contains("role:master") {
                masters.push(node.port);
            }
        }
        Ok(masters)
    }

    /// The port of a replica of the master on `port`, if it has one.
    pub fn replica_of(&self, port: u16) -> io::Result<Option<u16>> {
        let info = query(port, "INFO replication").map_err(|e| other(e.to_string()))?;
        // "slave0:ip=127.0.0.1,port=30001,state=online,offset=...,lag=0"
        Ok(info
            .lines()
            .filter(|l| l.starts_with("slave"))
            .find_map(|l| l.split(',').find_map(|f| f.strip_prefix("port=")))
            .and_then(|p| p.trim().parse().ok()))
    }

    fn signal(&self, port: u16, signal: &str) -> io::Result<()> {
        let pid = self
            .nodes
            .iter()
            .find(|n| n.port == port)
            .and_then(|n| n.child.as_ref())
            .map(Child::id)
            .ok_or_else(|| other(format!("no running node on port {port}")))?;
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()?;
        if !status.success() {
            return Err(other(format!("kill {signal} {pid} failed")));
        }
        Ok(())
    }

    /// Freezes the node on `port` (SIGSTOP): a replica paused this way falls behind its
    /// master, as one would behind a slow link.
    pub fn pause(&self, port: u16) -> io::Result<()> {
        self.signal(port, "-STOP")
    }

    /// Closes the replication links of the master on `port` (`CLIENT KILL TYPE replica`): a
    /// paused replica cannot reconnect, so what the master acknowledges from now on exists
    /// only on the master. (Pausing alone is not enough: the kernel keeps receiving the
    /// replication stream for a stopped process.)
    pub fn cut_replication(&self, port: u16) -> io::Result<()> {
        query(port, "CLIENT KILL TYPE replica").map_err(|e| other(e.to_string()))?;
        Ok(())
    }

    /// Lets a paused node run again (SIGCONT).
    pub fn resume(&self, port: u16) -> io::Result<()> {
        self.signal(port, "-CONT")
    }

    /// Kills the node on `port` (SIGKILL: no chance to hand anything over), as a crash would.
    pub fn kill(&mut self, port: u16) -> io::Result<()> {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .ok_or_else(|| other(format!("no node on port {port}")))?;
        if let Some(mut child) = node.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Waits until the cluster serves every slot again after a master was killed: the killed
    /// master's replica has been promoted (`masters_expected` running masters) and every
    /// running node reports `cluster_state:ok`.
    pub fn wait_failover(&self, masters_expected: usize) -> io::Result<()> {
        wait_until("failover", || {
            self.masters().is_ok_and(|m| m.len() >= masters_expected)
        })?;
        self.wait_ok()
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                // A paused node dies of SIGKILL too; nothing else to undo.
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
