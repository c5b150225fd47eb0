//! The HTTP listener: a deadline for request headers (slowloris), a cap on open connections,
//! and TLS on HTTP and STOMP.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Stream, TestServer, get};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn clients_that_never_finish_their_headers_are_cut_off_and_others_are_served() {
    let server = TestServer::start(|c| c.http.header_timeout = "300ms".parse().unwrap()).await;
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: ")
            .await
            .unwrap();
        slow.push(s);
    }
    let (status, _, _) = get(&server.url, "/healthz").await;
    assert_eq!(status, 200, "a well-behaved client is served meanwhile");
    for mut s in slow {
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await;
        let n = read
            .expect("the server closes a header-less connection by itself")
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    }
    server.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let server = TestServer::start(|c| c.http.max_connections = 1).await;
    let stream = Stream::open(&server.url, "/v1/sse?topic=t", &[]).await;
    assert_eq!(stream.status, 200);
    let url = server.url.clone();
    let waiting = tokio::spawn(async move { get(&url, "/healthz").await.0 });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the second connection waits for a free place"
    );
    drop(stream);
    assert_eq!(
        waiting.await.unwrap(),
        200,
        "and is served once the stream closes"
    );
    server.stop().await;
}

#[tokio::test]
async fn tls_on_http_and_stomp() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let server = TestServer::start(|c| {
        c.tls.cert = Some(format!("{fixtures}/tls_cert.pem").into());
        c.tls.key = Some(format!("{fixtures}/tls_key.pem").into());
    })
    .await;
    let https = server.url.replacen("http://", "https://", 1);
    // The server's certificate is signed by a test CA, which the clients trust.
    let pem = std::fs::read(format!("{fixtures}/tls_ca.pem")).unwrap();
    herald::install_crypto();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap();
    let response = client.get(format!("{https}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        common::client()
            .get(format!("{}/healthz", server.url))
            .send()
            .await
            .is_err(),
        "plain HTTP is not served"
    );

    // STOMP over TLS, with a rustls client trusting the same certificate.
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(server.stomp).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(b"CONNECT\naccept-version:1.2\nhost:localhost\n\n\0")
        .await
        .unwrap();
    let mut buf = vec![0u8; 512];
    let n = tls.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"CONNECTED\n"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    server.stop().await;
}
