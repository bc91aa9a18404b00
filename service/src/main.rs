//! The checkout API as a program: an empty inventory served on `--addr` until Ctrl-C or
//! SIGTERM, then a graceful shutdown (requests in progress finish).
//!
//! ```sh
//! cargo run --release -p atomic-stock-service -- --addr 127.0.0.1:8080
//! ```

use atomic_stock::Inventory;
use lexopt::{Arg, Parser, ValueExt};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "usage: atomic-stock-service [--addr 127.0.0.1:8080]";

fn read(parser: &mut Parser) -> Result<SocketAddr, lexopt::Error> {
    let mut addr: SocketAddr = ([127, 0, 0, 1], 8080).into();
    while let Some(arg) = parser.next()? {
        match arg {
            Arg::Long("addr") => addr = parser.value()?.parse()?,
            Arg::Short('h') | Arg::Long("help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(addr)
}

/// Completes on Ctrl-C, or on SIGTERM where there is one.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    eprintln!("shutting down: finishing the requests in progress");
}

#[tokio::main]
async fn main() -> ExitCode {
    let addr = match read(&mut Parser::from_env()) {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("atomic-stock-service: {error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("atomic-stock-service: cannot listen on {addr}: {error}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "listening on http://{}",
        listener.local_addr().unwrap_or(addr)
    );
    let inventory = Arc::new(Inventory::new());
    match atomic_stock_service::serve(listener, inventory, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("atomic-stock-service: {error}");
            ExitCode::FAILURE
        }
    }
}
