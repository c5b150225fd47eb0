//! Just enough HTTP/1.1 for the generator: open a stream, publish with keep-alive.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `GET path` and returns the connection once the response head (status 200) is read.
pub async fn open_stream(addr: SocketAddr, path: &str) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let head = read_head(&mut stream).await?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!(
            "the stream was refused: {}",
            head.lines().next().unwrap_or("")
        );
    }
    Ok(stream)
}

/// Opens a STOMP 1.2 session over TCP subscribed to `/topic/<topic>`, once its SUBSCRIBE is
/// confirmed by a RECEIPT.
pub async fn open_stomp(addr: SocketAddr, topic: &str) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    stream
        .write_all(b"CONNECT\naccept-version:1.2\nhost:bench\n\n\0")
        .await?;
    let connected = read_frame(&mut stream).await?;
    if !connected.starts_with("CONNECTED") {
        bail!("STOMP CONNECT was refused: {connected}");
    }
    let subscribe = format!("SUBSCRIBE\nid:1\ndestination:/topic/{topic}\nreceipt:sub\n\n\0");
    stream.write_all(subscribe.as_bytes()).await?;
    let receipt = read_frame(&mut stream).await?;
    if !receipt.starts_with("RECEIPT") {
        bail!("STOMP SUBSCRIBE was refused: {receipt}");
    }
    Ok(stream)
}

/// Reads one STOMP frame (up to its NUL), skipping heart-beat line ends.
async fn read_frame(stream: &mut TcpStream) -> anyhow::Result<String> {
    let mut frame = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if stream.read(&mut byte).await? == 0 {
            bail!("the server closed the connection");
        }
        match byte[0] {
            0 => return Ok(String::from_utf8_lossy(&frame).into_owned()),
            b'\n' | b'\r' if frame.is_empty() => {}
            b => frame.push(b),
        }
    }
}

/// Publishes one event and waits for its `201`.
pub async fn publish(conn: &mut TcpStream, topic: &str, data: &str) -> anyhow::Result<()> {
    let body = format!(r#"{{"data":{data}}}"#);
    let request = format!(
        "POST /v1/topics/{topic}/events HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes()).await?;
    let head = read_head(conn).await?;
    if !head.starts_with("HTTP/1.1 201") {
        bail!("publish failed: {}", head.lines().next().unwrap_or(""));
    }
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    conn.read_exact(&mut body).await?;
    Ok(())
}

/// Reads up to and including the blank line that ends a response head.
async fn read_head(stream: &mut TcpStream) -> anyhow::Result<String> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 {
            bail!("the server closed the connection");
        }
        head.push(byte[0]);
        if head.len() > 16 * 1024 {
            bail!("response head too long");
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}
