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
pub async fn read_head(stream: &mut TcpStream) -> anyhow::Result<String> {
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

/// Opens a WebSocket to `path` (subprotocol `v12.stomp`) and starts a STOMP 1.2 session on it,
/// with `login` (`user:passcode`) when given; returns the stream once CONNECTED arrived.
pub async fn open_stomp_ws(
    addr: SocketAddr,
    path: &str,
    login: Option<&str>,
) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let upgrade = format!(
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
         sec-websocket-key: aGVyYWxkLWJlbmNoLWtleQ==\r\nsec-websocket-version: 13\r\n\
         sec-websocket-protocol: v12.stomp\r\n\r\n"
    );
    stream.write_all(upgrade.as_bytes()).await?;
    let head = read_head(&mut stream).await?;
    if !head.starts_with("HTTP/1.1 101") {
        bail!(
            "the WebSocket upgrade was refused: {}",
            head.lines().next().unwrap_or("")
        );
    }
    let credentials = match login.and_then(|l| l.split_once(':')) {
        Some((user, pass)) => format!("login:{user}\npasscode:{pass}\n"),
        None => String::new(),
    };
    let connect = format!("CONNECT\naccept-version:1.2\nhost:/\n{credentials}\n\0");
    stream.write_all(&ws_frame(connect.as_bytes())).await?;
    let connected = read_ws_stomp(&mut stream).await?;
    if !connected.starts_with("CONNECTED") {
        bail!("STOMP CONNECT was refused: {connected}");
    }
    Ok(stream)
}

/// Subscribes a STOMP-over-WebSocket session to `/topic/<topic>` and waits for the RECEIPT.
pub async fn subscribe_ws(stream: &mut TcpStream, topic: &str) -> anyhow::Result<()> {
    let subscribe = format!("SUBSCRIBE\nid:1\ndestination:/topic/{topic}\nreceipt:sub\n\n\0");
    stream.write_all(&ws_frame(subscribe.as_bytes())).await?;
    let receipt = read_ws_stomp(stream).await?;
    if !receipt.starts_with("RECEIPT") {
        bail!("STOMP SUBSCRIBE was refused: {receipt}");
    }
    Ok(())
}

/// Sends one STOMP SEND of `data` to `/topic/<topic>` over WebSocket (no receipt).
pub async fn send_ws(stream: &mut TcpStream, topic: &str, data: &str) -> anyhow::Result<()> {
    let frame = format!(
        "SEND\ndestination:/topic/{topic}\ncontent-type:application/json\ncontent-length:{}\n\n{data}\0",
        data.len()
    );
    stream.write_all(&ws_frame(frame.as_bytes())).await?;
    Ok(())
}

/// A client's (masked) WebSocket text frame.
pub(crate) fn ws_frame(payload: &[u8]) -> Vec<u8> {
    const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x81);
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= usize::from(u16::MAX) => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&MASK);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    frame
}

/// Reads WebSocket messages until one holds a STOMP frame (not a heart-beat); returns its text.
async fn read_ws_stomp(stream: &mut TcpStream) -> anyhow::Result<String> {
    loop {
        let mut head = [0u8; 2];
        stream.read_exact(&mut head).await?;
        let len = match head[1] & 0x7f {
            126 => {
                let mut n = [0u8; 2];
                stream.read_exact(&mut n).await?;
                u64::from(u16::from_be_bytes(n))
            }
            127 => {
                let mut n = [0u8; 8];
                stream.read_exact(&mut n).await?;
                u64::from_be_bytes(n)
            }
            n => u64::from(n),
        };
        if len > 1 << 20 {
            bail!("a WebSocket message of {len} bytes before the session started");
        }
        let mut payload = vec![0u8; len as usize];
        stream.read_exact(&mut payload).await?;
        if head[0] & 0x0f == 0x8 {
            bail!("the server closed the WebSocket");
        }
        let text = String::from_utf8_lossy(&payload);
        let text = text.trim_start_matches(['\n', '\r']);
        if !text.is_empty() {
            return Ok(text.trim_end_matches('\0').to_owned());
        }
    }
}
