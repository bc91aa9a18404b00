//! A small HTTP/1 client for the API: one keep-alive connection, JSON in and out. The tests
//! and the load generator drive the service through it; any HTTP client does as well.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::net::SocketAddr;
use tokio::net::TcpStream;

/// What can go wrong sending a request: the connection, or (de)serializing JSON.
pub type ClientError = Box<dyn std::error::Error + Send + Sync>;

/// A response: its status and body.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The body, as received.
    pub body: Bytes,
}

impl Reply {
    /// The body read as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// One HTTP/1 connection to the service, kept alive across requests (which it sends one at a
/// time).
#[derive(Debug)]
pub struct Client {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Client {
    /// Connects to `addr` (with `TCP_NODELAY`: each request is one small write).
    pub async fn connect(addr: SocketAddr) -> Result<Client, ClientError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        // The connection's I/O runs as its own task until the client is dropped.
        tokio::spawn(connection);
        Ok(Client {
            sender,
            host: addr.to_string(),
        })
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> Result<Reply, ClientError> {
        self.send(Method::GET, path, None).await
    }

    /// `POST path` with `body` as JSON.
    pub async fn post(&mut self, path: &str, body: &impl Serialize) -> Result<Reply, ClientError> {
        let body = serde_json::to_vec(body)?;
        self.send(Method::POST, path, Some(body)).await
    }

    /// `POST path` without a body (confirm, release).
    pub async fn post_empty(&mut self, path: &str) -> Result<Reply, ClientError> {
        self.send(Method::POST, path, None).await
    }

    /// `PUT path` with `body` as JSON.
    pub async fn put(&mut self, path: &str, body: &impl Serialize) -> Result<Reply, ClientError> {
        let body = serde_json::to_vec(body)?;
        self.send(Method::PUT, path, Some(body)).await
    }

    /// A request with `body` sent as given, declared as JSON if there is one.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Reply, ClientError> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.host);
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Reply { status, body })
    }
}
