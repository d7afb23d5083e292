//! The two pages a browser opens: a city web system's sign-in page (QR-key login) and
//! a meeting room's display. Plain HTML with a little script; everything they show
//! comes from the JSON endpoints, so the pages hold no logic a backend must copy.

use axum::extract::Path;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

/// A page as every browser-facing page is served: never cached, never framed.
pub fn page(html: &'static str) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store"), (header::X_FRAME_OPTIONS, "DENY")],
        Html(html),
    )
        .into_response()
}

/// `GET /login`: the sign-in page. `?system=` is the registered web system's id
/// (default `doc`); the heading shows the name registered for it.
#[utoipa::path(
    get,
    path = "/login",
    operation_id = "loginPage",
    summary = "The sign-in page of a city web system: shows the rotating login QR, then the number, then who signed in.",
    description = "`?system=` names the web system shown. Runs the browser side of QR-key login against the endpoints below.",
    responses(
        (status = 200, description = "HTML page.", body = String, content_type = "text/html"),
    ),
)]
pub async fn login_page() -> Response {
    page(LOGIN_HTML)
}

/// `GET /meetings/{mid}/display`: the room display; its token is in the URL fragment
/// (never sent to the server in the URL, so never in a log line).
#[utoipa::path(
    get,
    path = "/meetings/{mid}/display",
    operation_id = "meetingDisplayPage",
    summary = "A meeting room's display: the QR that changes every 10 s and the live roster.",
    description = "The display token goes in the URL fragment (`#token`), which browsers never send, so it is in no log line.",
    params(
        ("mid" = String, Path, description = "Meeting id (base64url of 16 bytes)."),
    ),
    responses(
        (status = 200, description = "HTML page.", body = String, content_type = "text/html"),
    ),
)]
pub async fn meeting_display_page(Path(_mid): Path<String>) -> Response {
    page(DISPLAY_HTML)
}

const LOGIN_HTML: &str = r#"<!doctype html>
<html lang="zh-Hant"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>臺北市政府 登入 · Sign in</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 0; background: #f4f6f8; color: #1b2733; }
 main { max-width: 420px; margin: 40px auto; background: #fff; padding: 32px; border-radius: 12px; text-align: center; }
 #qr svg { width: 300px; height: 300px; }
 #number { font-size: 72px; font-weight: 700; letter-spacing: 8px; }
 .hint { color: #52606d; }
</style></head>
<body><main>
<h1 id="system">臺北市政府</h1>
<p class="hint">用 TaipeiON 掃描登入 · Scan with TaipeiON to sign in</p>
<div id="qr" aria-label="login QR code"></div>
<div id="scanned" hidden><p>在手機上輸入這個數字 · Type this number on your phone</p><div id="number"></div></div>
<p id="state" data-state="starting">…</p>
<div id="confirm" hidden><p>即將進入 · You are about to enter the account of <strong id="account"></strong></p>
<p class="hint">不是你的帳號？關閉此頁 · Not your account? Close this page.</p>
<button id="continue" type="button">繼續 · Continue</button></div>
<div id="done" hidden><p>已登入 · Signed in as <strong id="who"></strong></p></div>
<button id="again" type="button" hidden onclick="location.reload()">新的登入碼 · New code</button>
</main>
<script>
"use strict";
const params = new URLSearchParams(location.search);
const systemId = params.get("system") || "doc";
const stateEl = document.getElementById("state");
function show(state, text) { stateEl.dataset.state = state; stateEl.textContent = text; }
async function json(method, url, body) {
  const r = await fetch(url, { method, credentials: "same-origin",
    headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined });
  const data = await r.json();
  if (!r.ok) throw Object.assign(new Error(data.message), { code: data.code });
  return data;
}
async function run() {
  let started;
  try { started = await json("POST", "/v1/login/start", { system_id: systemId }); }
  catch (e) { show("error", "無法開始登入 · Could not start: " + e.message); return; }
  document.getElementById("system").textContent = "臺北市政府 " + started.system;
  const rid = started.rid;
  for (;;) {
    let s;
    try { s = await json("GET", "/v1/login/" + rid); }
    catch (e) { show("error", e.message); return; }
    if (s.state === "pending") {
      document.getElementById("qr").innerHTML = s.frame_svg;
      document.getElementById("qr").dataset.frame = s.frame;
      show("pending", "等待掃描 · Waiting for a scan");
    } else if (s.state === "scanned") {
      document.getElementById("qr").hidden = true;
      document.getElementById("scanned").hidden = false;
      document.getElementById("number").textContent = s.number;
      show("scanned", "已掃描 · Scanned");
    } else if (s.state === "approved") {
      // Someone else's phone may have approved this browser's code: enter only the
      // account the person here recognises, after one click.
      document.getElementById("scanned").hidden = true;
      document.getElementById("account").textContent = s.account;
      document.getElementById("confirm").hidden = false;
      show("confirm", "請確認帳號 · Confirm the account");
      document.getElementById("continue").onclick = async () => {
        document.getElementById("continue").disabled = true;
        try {
          const who = await json("POST", "/v1/login/" + rid + "/redeem", { confirm: s.confirm });
          document.getElementById("confirm").hidden = true;
          document.getElementById("who").textContent = who.display_name;
          document.getElementById("done").hidden = false;
          show("signed-in", "已登入 · Signed in");
        } catch (e) { show("error", e.message); }
      };
      return;
    } else {
      document.getElementById("qr").hidden = true;
      document.getElementById("scanned").hidden = true;
      document.getElementById("again").hidden = s.state === "redeemed";
      show(s.state, { denied: "已拒絕 · Denied on the phone", cancelled: "已取消 · Cancelled",
        expired: "已逾時，請重新整理 · Expired: reload the page", redeemed: "已使用 · Already used" }[s.state] || s.state);
      return;
    }
    await new Promise(res => setTimeout(res, started.poll_ms));
  }
}
run();
</script></body></html>
"#;

const DISPLAY_HTML: &str = r#"<!doctype html>
<html lang="zh-Hant"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>會議簽到 · Meeting sign-in</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 0; background: #102a43; color: #fff; }
 main { display: flex; gap: 48px; padding: 40px; }
 #qr { background: #fff; padding: 16px; border-radius: 12px; }
 #qr svg { width: 360px; height: 360px; }
 li { font-size: 22px; margin: 6px 0; }
</style></head>
<body><main>
<div><h1 id="title">…</h1><p id="room"></p><div id="qr" aria-label="meeting QR code"></div>
<p id="state" data-state="starting">…</p></div>
<div><h2>簽到名單 · Signed in (<span id="count">0</span>)</h2><ol id="roster"></ol></div>
</main>
<script>
"use strict";
const mid = location.pathname.split("/")[2];
const token = location.hash.slice(1);
const stateEl = document.getElementById("state");
async function tick() {
  try {
    const r = await fetch("/v1/meetings/" + mid + "/display", { headers: { Authorization: "Bearer " + token } });
    const d = await r.json();
    if (!r.ok) { stateEl.dataset.state = "error"; stateEl.textContent = d.message; return; }
    document.getElementById("title").textContent = d.title;
    document.getElementById("room").textContent = d.room;
    document.getElementById("qr").innerHTML = d.frame_svg;
    document.getElementById("qr").dataset.frame = d.frame;
    const list = document.getElementById("roster");
    list.replaceChildren(...d.roster.map(e => {
      const li = document.createElement("li");
      li.textContent = e.display_name + (e.late ? " (離線簽到 · offline)" : "");
      return li;
    }));
    document.getElementById("count").textContent = String(d.roster.length);
    stateEl.dataset.state = "showing";
    stateEl.textContent = "每 10 秒更新 · Changes every 10 s";
  } catch (e) { stateEl.dataset.state = "offline"; stateEl.textContent = "連線中斷 · Reconnecting…"; }
}
tick();
setInterval(tick, 1000);
</script></body></html>
"#;
