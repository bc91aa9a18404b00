//! [`LocalCluster`]: a throwaway TigerBeetle cluster on 127.0.0.1 for tests, the failover
//! experiment and the comparison figures, from a `tigerbeetle` server binary the caller names
//! (the server is not in the package registries; see `../shared/tigerbeetle/README.md`).
//!
//! It formats one data file per replica in a temporary directory (`--development`), starts each
//! replica on a free port with the same `--addresses` list, and waits until the cluster answers
//! a request: readiness is asked of the cluster, never slept for. A replica that exits while
//! the cluster starts is an error carrying the end of its log. Dropping the cluster kills
//! exactly the processes it started, waits for them, and removes the directory (data files
//! are about 1 GiB each).
//!
//! Everything here blocks: call it outside an async runtime, or in `spawn_blocking`.

use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};
use tigerbeetle as tb;

/// How long a cluster may take to answer its first request (measured: 3-5 s for one replica).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// One replica the cluster started.
#[derive(Debug)]
struct Replica {
    port: u16,
    file: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// A TigerBeetle cluster of local processes, stopped on drop.
#[derive(Debug)]
pub struct LocalCluster {
    binary: PathBuf,
    dir: PathBuf,
    /// `--development` (the default): no Direct I/O needed, small caches and 32 KiB requests.
    development: bool,
    cluster_id: u128,
    replicas: Vec<Replica>,
}

fn other(what: impl Into<String>) -> io::Error {
    io::Error::other(what.into())
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Wakes the thread that polls a future.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread until it completes or `deadline` passes (`None`), checking
/// `alive` between polls. The client's futures need no runtime: its own thread completes them.
fn block_on<F: Future>(
    future: F,
    deadline: Instant,
    mut alive: impl FnMut() -> io::Result<()>,
) -> io::Result<Option<F::Output>> {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return Ok(Some(output));
        }
        alive()?;
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::park_timeout((deadline - now).min(Duration::from_millis(100)));
    }
}

/// The last lines of a replica's log, for an error message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(12)..].join("\n")
}

impl LocalCluster {
    /// Formats and starts a development cluster (`--development`: no Direct I/O needed, small
    /// caches, requests of at most 32 KiB) of `replica_count` replicas (1 to 6) of `binary` on
    /// 127.0.0.1, its data files in the temporary directory, and waits until it answers a
    /// request.
    pub fn start(binary: &Path, replica_count: u8) -> io::Result<Self> {
        Self::start_in(binary, replica_count, &std::env::temp_dir(), true)
    }

    /// Formats and starts a cluster in production mode (the server's default sizes, and a
    /// 512 MiB grid cache: about 2.6 GiB resident per replica), its data files in a new
    /// directory under `parent`, which must be on a file system with Direct I/O (not tmpfs).
    pub fn start_production(binary: &Path, replica_count: u8, parent: &Path) -> io::Result<Self> {
        Self::start_in(binary, replica_count, parent, false)
    }

    fn start_in(
        binary: &Path,
        replica_count: u8,
        parent: &Path,
        development: bool,
    ) -> io::Result<Self> {
        static CLUSTERS: AtomicU64 = AtomicU64::new(0);
        if !(1..=6).contains(&replica_count) {
            return Err(other(format!("{replica_count} replicas: 1 to 6")));
        }
        let dir = parent.join(format!(
            "atomic-stock-tigerbeetle-{}-{}",
            std::process::id(),
            // Relaxed: a unique number; nothing else is published through it.
            CLUSTERS.fetch_add(1, Ordering::Relaxed)
        ));
        // A directory left by a crashed run with the same pid and number: start clean.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        // From here on, a failure drops `cluster`: whatever was started is stopped.
        let mut cluster = LocalCluster {
            binary: binary.to_path_buf(),
            dir,
            development,
            cluster_id: 0,
            replicas: Vec::new(),
        };
        for replica in 0..replica_count {
            let file = cluster.dir.join(format!("0_{replica}.tigerbeetle"));
            let log = cluster.dir.join(format!("0_{replica}.log"));
            let mut format = Command::new(binary);
            format
                .arg("format")
                .arg(format!("--cluster={}", cluster.cluster_id))
                .arg(format!("--replica={replica}"))
                .arg(format!("--replica-count={replica_count}"));
            if development {
                format.arg("--development");
            }
            let output = format
                .arg(&file)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| other(format!("cannot run {}: {e}", binary.display())))?;
            if !output.status.success() {
                return Err(other(format!(
                    "{} format failed ({}): {}",
                    binary.display(),
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                )));
            }
            cluster.replicas.push(Replica {
                port: free_port()?,
                file,
                log,
                child: None,
            });
        }
        for replica in 0..cluster.replicas.len() {
            cluster.spawn(replica)?;
        }
        cluster.wait_ready()?;
        Ok(cluster)
    }

    fn spawn(&mut self, replica: usize) -> io::Result<()> {
        let addresses = self.addresses();
        let r = &mut self.replicas[replica];
        assert!(r.child.is_none(), "replica {replica} is running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&r.log)?;
        let mut start = Command::new(&self.binary);
        start.arg("start").arg(format!("--addresses={addresses}"));
        if self.development {
            start.arg("--development");
        } else {
            start.arg("--cache-grid=512MiB");
        }
        let child = start
            .arg(&r.file)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| other(format!("cannot start {}: {e}", self.binary.display())))?;
        r.child = Some(child);
        Ok(())
    }

    /// Every started replica is still running.
    fn check_alive(&mut self) -> io::Result<()> {
        for (i, r) in self.replicas.iter_mut().enumerate() {
            if let Some(child) = &mut r.child {
                if let Some(status) = child.try_wait()? {
                    r.child = None;
                    return Err(other(format!(
                        "tigerbeetle replica {i} exited ({status}); end of its log:\n{}",
                        tail(&r.log)
                    )));
                }
            }
        }
        Ok(())
    }

    /// Waits until the cluster answers a request (a lookup of an account that does not
    /// exist), or fails after 60 s or when a replica exits.
    pub fn wait_ready(&mut self) -> io::Result<()> {
        let client = tb::Client::new(self.cluster_id, &self.addresses())
            .map_err(|e| other(format!("tigerbeetle client: {e}")))?;
        let answer = block_on(
            client.lookup_accounts(&[u128::MAX - 1]),
            Instant::now() + READY_WITHIN,
            || self.check_alive(),
        )?;
        match answer {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(other(format!("tigerbeetle readiness request: {e}"))),
            None => {
                let mut logs = String::new();
                for r in &self.replicas {
                    let _ = write!(logs, "\n{}:\n{}", r.log.display(), tail(&r.log));
                }
                Err(other(format!(
                    "tigerbeetle did not answer within {READY_WITHIN:?}{logs}"
                )))
            }
        }
    }

    /// The cluster id (0).
    #[must_use]
    pub fn cluster_id(&self) -> u128 {
        self.cluster_id
    }

    /// Every replica's address, comma-separated, as the client and the server take them.
    #[must_use]
    pub fn addresses(&self) -> String {
        self.replicas
            .iter()
            .map(|r| format!("127.0.0.1:{}", r.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// How many replicas the cluster has (running or not).
    #[must_use]
    pub fn replica_count(&self) -> usize {
        self.replicas.len()
    }

    /// The process id of replica `replica`, while it runs.
    #[must_use]
    pub fn pid(&self, replica: usize) -> Option<u32> {
        self.replicas[replica].child.as_ref().map(Child::id)
    }

    /// Kills replica `replica` (SIGKILL: no goodbye to its peers), and waits for it.
    pub fn kill(&mut self, replica: usize) -> io::Result<()> {
        if let Some(mut child) = self.replicas[replica].child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts replica `replica` again on its data file (after [`kill`](Self::kill)).
    pub fn restart(&mut self, replica: usize) -> io::Result<()> {
        self.spawn(replica)
    }

    /// The replica that is primary, as the replicas' logs tell: the one that last logged
    /// becoming primary after a view change, else replica 0 (the primary of view 0, in which a
    /// new cluster starts). A primary is `view mod replica_count`.
    #[must_use]
    pub fn primary(&self) -> usize {
        let mut latest: Option<(u32, usize)> = None;
        for (i, r) in self.replicas.iter().enumerate() {
            let text = std::fs::read_to_string(&r.log).unwrap_or_default();
            for line in text.lines().filter(|l| l.ends_with(" primary")) {
                // "...transition_to_normal_from_view_change_status: view=3..4 primary"
                let view = line
                    .rsplit_once("..")
                    .and_then(|(_, rest)| rest.split_whitespace().next())
                    .and_then(|v| v.parse::<u32>().ok());
                if let Some(view) = view {
                    if latest.is_none_or(|(v, _)| view > v) {
                        latest = Some((view, i));
                    }
                }
            }
        }
        latest.map_or(0, |(_, i)| i)
    }

    /// How many lines of replica `replica`'s log contain `needle`.
    #[must_use]
    pub fn log_lines_containing(&self, replica: usize, needle: &str) -> usize {
        let text = std::fs::read_to_string(&self.replicas[replica].log).unwrap_or_default();
        text.lines().filter(|l| l.contains(needle)).count()
    }

    /// The end of replica `replica`'s log.
    #[must_use]
    pub fn log_tail(&self, replica: usize) -> String {
        tail(&self.replicas[replica].log)
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for replica in 0..self.replicas.len() {
            let _ = self.kill(replica);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
