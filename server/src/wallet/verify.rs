//! The verifier web page: anyone pastes a certificate's QR text (from a scanner app or
//! a photocopy read by one) and sees the verdict. It runs the same pipeline as the
//! phone (`taipei_protocol::cert::verdict`), against the server's current lists.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use taipei_protocol::cert::verdict::{Lists, Verdict, verify_text};
use taipei_protocol::wallet::VerifyRequest;

use super::{status_bits, trust_list};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::time::now_ms;

/// Longer than any QR code can hold; a longer paste is refused before decoding.
const MAX_QR_TEXT: usize = 8 * 1024;

/// `POST /v1/wallet/verify`: public, read-only.
#[utoipa::path(
    post,
    path = "/v1/wallet/verify",
    operation_id = "walletVerify",
    summary = "Anyone: verify a certificate's QR text (TPC1: or HC1:) against the server's current lists; the verifier page's call.",
    request_body(content = taipei_protocol::wallet::VerifyRequest),
    responses(
        (status = 200, description = "The verdict.", body = taipei_protocol::cert::verdict::Verdict),
        (status = 400, description = "`bad_request`.", body = taipei_protocol::api::ErrorBody),
    ),
)]
pub async fn verify(State(state): State<AppState>, body: JsonBody<VerifyRequest>) -> Result<Json<Verdict>, ApiError> {
    let text = body.value.qr;
    if text.len() > MAX_QR_TEXT {
        return Err(ApiError::bad_request(format!("a QR text is at most {MAX_QR_TEXT} bytes")));
    }
    state
        .db
        .read(move |conn| {
            let trust = trust_list(conn)?;
            let bits = status_bits(conn)?;
            let now = now_ms();
            Ok(Json(verify_text(text.trim(), Lists { trust: &trust, status: Some((&bits, now)) }, now)))
        })
        .await
}

/// `GET /verify`: the page.
#[utoipa::path(
    get,
    path = "/verify",
    operation_id = "verifyPage",
    summary = "The verifier web page: paste a QR text, see the verdict and the certificate's fields.",
    responses(
        (status = 200, description = "HTML.", body = String, content_type = "text/html"),
    ),
)]
pub async fn page() -> Response {
    crate::pages::page(VERIFY_HTML)
}

const VERIFY_HTML: &str = r#"<!doctype html>
<html lang="zh-Hant"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>臺北市 證書驗證 · Certificate verifier</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 0; background: #f4f6f8; color: #1b2733; }
 main { max-width: 640px; margin: 40px auto; background: #fff; padding: 32px; border-radius: 12px; }
 textarea { width: 100%; height: 120px; font-family: monospace; }
 #verdict[data-kind="valid"] { color: #116329; }
 #verdict:not([data-kind="valid"]) { color: #a40e26; }
 dt { font-weight: 600; margin-top: 8px; }
</style></head>
<body><main>
<h1>證書驗證 · Verify a certificate</h1>
<p>貼上 QR 碼內容 · Paste the text of the certificate's QR code (TPC1: or HC1:)</p>
<textarea id="qr" aria-label="QR text"></textarea>
<p><button id="check">驗證 Verify</button></p>
<h2 id="verdict" data-kind=""></h2>
<p id="reason"></p>
<dl id="fields"></dl>
</main>
<script>
"use strict";
function row(dl, label, value) {
  const dt = document.createElement("dt"); dt.textContent = label;
  const dd = document.createElement("dd"); dd.textContent = value;
  dl.append(dt, dd);
}
document.getElementById("check").addEventListener("click", async () => {
  const r = await fetch("/v1/wallet/verify", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ qr: document.getElementById("qr").value }) });
  const v = await r.json();
  const h = document.getElementById("verdict");
  const dl = document.getElementById("fields");
  dl.replaceChildren();
  if (!r.ok) { h.dataset.kind = "error"; h.textContent = v.message; return; }
  h.dataset.kind = v.kind;
  h.textContent = v.kind === "valid" ? "✔ 有效 Valid" : "✘ " + v.kind.replaceAll("_", " ");
  document.getElementById("reason").textContent = v.reason;
  if (v.issuer_name) row(dl, "發證機關 Issuer", v.issuer_name);
  const c = v.certificate;
  if (c) {
    row(dl, "證書 Certificate", c.title.zh + " " + c.title.en);
    row(dl, "持有人 Holder", c.holder);
    for (const f of c.fields) row(dl, f.label.zh + " " + f.label.en, f.value);
    row(dl, "發證日 Issued", new Date(c.issued_at * 1000).toISOString().slice(0, 10));
    row(dl, "有效期限 Expires", c.expires_at ? new Date(c.expires_at * 1000).toISOString().slice(0, 10) : "無 none");
  }
  if (v.eu_dcc) row(dl, "EU DCC", JSON.stringify(v.eu_dcc));
});
</script>
</body></html>
"#;
