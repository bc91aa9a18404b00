//! A throwaway PostgreSQL server for the comparison, and the classic reservation transactions.
//!
//! [`LocalPostgres`] runs Debian's `initdb` and `postgres` (from `/usr/lib/postgresql/*/bin`)
//! on a free 127.0.0.1 port in a temporary directory. PostgreSQL refuses to run as root, so
//! when this process is root the server runs as the `postgres` system user (which Debian's
//! package creates). Readiness: a connection succeeds. Drop stops exactly the postmaster it
//! started (SIGINT, PostgreSQL's fast shutdown, then SIGKILL if it lingers).

use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls, Statement};

fn other(what: impl Into<String>) -> io::Error {
    io::Error::other(what.into())
}

/// The newest `/usr/lib/postgresql/<version>/bin`.
fn bin_dir() -> io::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, p)| p)
        .ok_or_else(|| other("no /usr/lib/postgresql/*/bin: apt-get install postgresql"))
}

fn id_of(flag: &str) -> io::Result<u32> {
    let out = Command::new("id").args([flag, "postgres"]).output()?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| other("no postgres system user"))
}

/// A PostgreSQL server started for one run.
pub struct LocalPostgres {
    child: Option<Child>,
    dir: PathBuf,
    pub port: u16,
}

impl LocalPostgres {
    /// Initializes and starts a server. Durability is relaxed (`fsync=off`,
    /// `synchronous_commit=off`) to match the Redis nodes, which persist nothing either.
    pub fn start() -> io::Result<Self> {
        Self::start_with(false)
    }

    /// Initializes and starts a server; `durable`: `fsync=on`, `synchronous_commit=on`,
    /// `full_page_writes=on` (a commit returns once its WAL record is flushed, as the
    /// in-process journal's durable mode), otherwise as [`start`](LocalPostgres::start).
    pub fn start_with(durable: bool) -> io::Result<Self> {
        let on = if durable { "on" } else { "off" };
        let bin = bin_dir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir =
            std::env::temp_dir().join(format!("atomic-stock-pg-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let as_root = is_root();
        let (uid, gid) = if as_root {
            (Some(id_of("-u")?), Some(id_of("-g")?))
        } else {
            (None, None)
        };
        if let (Some(uid), Some(gid)) = (uid, gid) {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
        }
        let run = |program: &Path| {
            let mut cmd = Command::new(program);
            if let (Some(uid), Some(gid)) = (uid, gid) {
                cmd.uid(uid).gid(gid);
            }
            cmd.current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            cmd
        };
        let data = dir.join("data");
        let status = run(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"])
            .status()?;
        if !status.success() {
            return Err(other(format!("initdb failed: {status}")));
        }
        let child = run(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .arg("-k")
            .arg(&dir)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "max_connections=300"])
            .args(["-c", &format!("fsync={on}")])
            .args(["-c", &format!("synchronous_commit={on}")])
            .args(["-c", &format!("full_page_writes={on}")])
            .spawn()?;
        Ok(LocalPostgres {
            child: Some(child),
            dir,
            port,
        })
    }

    pub fn config(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres", self.port)
    }

    /// Connects, retrying until the server accepts connections (at most 60 s).
    pub async fn connect(&self) -> io::Result<Client> {
        let start = Instant::now();
        loop {
            match tokio_postgres::connect(&self.config(), NoTls).await {
                Ok((client, connection)) => {
                    tokio::spawn(connection);
                    return Ok(client);
                }
                Err(e) if start.elapsed() > Duration::from_secs(60) => {
                    return Err(other(format!("postgres did not accept connections: {e}")))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

/// Whether this process runs as root (reads /proc, no libc).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Creates the schema and `items` items of `stock` units.
pub async fn setup(client: &Client, items: u32, stock: i64) -> Result<(), tokio_postgres::Error> {
    client
        .batch_execute(
            "CREATE TABLE stock (item int PRIMARY KEY, available bigint NOT NULL, \
                                 held bigint NOT NULL, sold bigint NOT NULL);
             CREATE TABLE reservation (id bigserial PRIMARY KEY, cart bigint NOT NULL,
                                       state smallint NOT NULL, deadline timestamptz NOT NULL);
             CREATE TABLE reservation_line (reservation bigint NOT NULL, item int NOT NULL,
                                            quantity bigint NOT NULL);
             CREATE INDEX ON reservation_line (reservation);",
        )
        .await?;
    client
        .execute(
            "INSERT INTO stock SELECT g, $1, 0, 0 FROM generate_series(0, $2 - 1) g",
            &[&stock, &(items as i32)],
        )
        .await?;
    Ok(())
}

/// The statements of the two transactions, prepared once per connection (as a service would).
pub struct Statements {
    take: Statement,
    open: Statement,
    line: Statement,
    decide: Statement,
    lines: Statement,
    sell: Statement,
}

impl Statements {
    pub async fn prepare(client: &Client) -> Result<Self, tokio_postgres::Error> {
        Ok(Statements {
            take: client
                .prepare(
                    "UPDATE stock SET available = available - $2, held = held + $2 \
                     WHERE item = $1 AND available >= $2",
                )
                .await?,
            open: client
                .prepare(
                    "INSERT INTO reservation (cart, state, deadline) \
                     VALUES ($1, 0, now() + interval '10 minutes') RETURNING id",
                )
                .await?,
            line: client
                .prepare("INSERT INTO reservation_line VALUES ($1, $2, $3)")
                .await?,
            decide: client
                .prepare("UPDATE reservation SET state = 1 WHERE id = $1 AND state = 0")
                .await?,
            lines: client
                .prepare(
                    "SELECT item, quantity FROM reservation_line WHERE reservation = $1 \
                     ORDER BY item",
                )
                .await?,
            sell: client
                .prepare("UPDATE stock SET held = held - $2, sold = sold + $2 WHERE item = $1")
                .await?,
        })
    }
}

/// The classic reservation transaction: one conditional UPDATE per line in ascending item
/// order, rolled back on the first that changes no row; then the reservation rows.
/// `Ok(None)` is a shortfall.
pub async fn reserve(
    client: &mut Client,
    st: &Statements,
    cart: i64,
    lines: &[(i32, i64)],
) -> Result<Option<i64>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    for &(item, quantity) in lines {
        if tx.execute(&st.take, &[&item, &quantity]).await? == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
    }
    let id: i64 = tx.query_one(&st.open, &[&cart]).await?.get(0);
    for &(item, quantity) in lines {
        tx.execute(&st.line, &[&id, &item, &quantity]).await?;
    }
    tx.commit().await?;
    Ok(Some(id))
}

/// Confirms: the reservation's state moves from held once, and its units from held to sold.
pub async fn confirm(
    client: &mut Client,
    st: &Statements,
    id: i64,
) -> Result<bool, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    if tx.execute(&st.decide, &[&id]).await? == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    for row in tx.query(&st.lines, &[&id]).await? {
        let (item, quantity): (i32, i64) = (row.get(0), row.get(1));
        tx.execute(&st.sell, &[&item, &quantity]).await?;
    }
    tx.commit().await?;
    Ok(true)
}
