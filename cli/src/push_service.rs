//! The demo's push service: a loopback RFC 8030 endpoint standing where FCM or a
//! browser's push service stands between the reference server and the phone. It takes
//! `POST /push/demo` only with a VAPID token for its own origin (RFC 8292, checked with
//! `protocol::push::vapid`) and an `aes128gcm` body within 4 KB, and hands each body on
//! unopened, as the OS hands a payload to the app: only the phone's keys open it.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use taipei_protocol::push::encryption::MAX_BODY_LEN;
use taipei_protocol::push::vapid;
use tokio::sync::mpsc;

#[derive(Clone)]
struct Shared {
    origin: String,
    delivered: mpsc::Sender<Vec<u8>>,
}

/// The running service; dropping it stops serving.
pub struct DemoPushService {
    origin: String,
    delivered: mpsc::Receiver<Vec<u8>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DemoPushService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DemoPushService {
    /// Binds a free loopback port and serves on the current runtime.
    pub async fn start() -> Result<Self, String> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| format!("push service: {e}"))?;
        let origin = format!("http://{}", listener.local_addr().map_err(|e| format!("push service: {e}"))?);
        // A few bodies at most wait here: the demo takes each as it comes.
        let (tx, delivered) = mpsc::channel(16);
        let app = Router::new().route("/push/demo", axum::routing::post(accept)).with_state(Shared { origin: origin.clone(), delivered: tx });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { origin, delivered, task })
    }

    /// The endpoint the phone registers (a Web Push subscription's `endpoint`).
    pub fn endpoint(&self) -> String {
        format!("{}/push/demo", self.origin)
    }

    /// The next body the server pushed, as the OS would hand it to the app.
    pub async fn next(&mut self, within: Duration) -> Result<Vec<u8>, String> {
        match tokio::time::timeout(within, self.delivered.recv()).await {
            Ok(Some(body)) => Ok(body),
            Ok(None) => Err("the push service stopped".into()),
            Err(_) => Err(format!("no push arrived within {} s", within.as_secs())),
        }
    }
}

/// `POST /push/demo` (RFC 8030 §5): 201 once the body is taken.
async fn accept(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let now_secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    if let Err(e) = vapid::verify(authorization, &shared.origin, now_secs) {
        return (StatusCode::UNAUTHORIZED, format!("VAPID: {e}"));
    }
    if headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()) != Some("aes128gcm") {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Encoding must be aes128gcm".into());
    }
    if body.len() > MAX_BODY_LEN {
        return (StatusCode::PAYLOAD_TOO_LARGE, format!("{} bytes; at most {MAX_BODY_LEN}", body.len()));
    }
    match shared.delivered.try_send(body.to_vec()) {
        Ok(()) => (StatusCode::CREATED, String::new()),
        Err(_) => (StatusCode::TOO_MANY_REQUESTS, "the phone has not taken the last ones".into()),
    }
}
