//! A small keep-alive HTTP/1.1 client for the scenarios that make many requests on one
//! connection (publishing, the webhook API). Answers are read through a buffer, so a response
//! costs a read or two, not one read per byte.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One keep-alive connection to an HTTP server.
pub struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::with_capacity(64 * 1024, stream),
        })
    }

    /// Sends one request (a JSON `body` when not empty) and returns the answer's status and body.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        self.stream.get_mut().write_all(&request).await?;
        self.read_response().await
    }

    /// Like [`Client::request`], with the answer parsed as JSON (`null` when empty).
    pub async fn json(
        &mut self,
        method: &str,
        path: &str,
        body: &str,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let (status, body) = self.request(method, path, body.as_bytes()).await?;
        if body.is_empty() {
            return Ok((status, serde_json::Value::Null));
        }
        let value = serde_json::from_slice(&body).with_context(|| {
            format!("{method} {path} answered {status} with a body that is not JSON")
        })?;
        Ok((status, value))
    }

    /// Reads a status line, headers, and a body framed by `content-length` or chunks.
    async fn read_response(&mut self) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut line = String::new();
        self.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("not an HTTP status line: {line:?}"))?;
        let mut length = 0;
        let mut chunked = false;
        loop {
            self.read_line(&mut line).await?;
            if line == "\r\n" || line == "\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().context("bad content-length")?;
            } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                self.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .context("bad chunk size")?;
                let start = body.len();
                body.resize(start + size + 2, 0); // the chunk and its CRLF
                self.stream.read_exact(&mut body[start..]).await?;
                body.truncate(start + size);
                if size == 0 {
                    break;
                }
            }
        } else {
            body.resize(length, 0);
            self.stream.read_exact(&mut body).await?;
        }
        Ok((status, body))
    }

    async fn read_line(&mut self, line: &mut String) -> anyhow::Result<()> {
        line.clear();
        if self.stream.read_line(line).await? == 0 {
            bail!("the server closed the connection");
        }
        Ok(())
    }
}
