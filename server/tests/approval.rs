//! Mobile approval on the reference server over real HTTP: routing effects of each
//! action, decision levels, proxies (代), required opinions, recall windows, classified
//! items, batches with mixed verdicts, the refusals (replayed, altered, wrong version,
//! wrong holder) each with its code and audit row, working-day deadlines, the inbox,
//! sync, attachments, reminders and the demo seed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Session, TestServer, error_of, random_id};
use reqwest::{Method, StatusCode};
use serde_json::json;
use taipei_protocol::api::{codes as api_codes, headers};
use taipei_protocol::approval::{
    Action, ActionReceipt, ActionStatus, BatchReceipt, Changes, CosignMode, Inbox, ItemCreated, ItemDetail, ItemState,
    ReturnTo, SignedAction, action_message, codes,
};
use taipei_protocol::attendance::{date_day, workday_start_ms};
use taipei_protocol::b64;

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    common::now_s() * 1000
}

async fn admin(t: &TestServer, path: &str, body: serde_json::Value) -> reqwest::Response {
    t.http.post(t.url(path)).bearer_auth(t.server.admin_token()).json(&body).send().await.unwrap()
}

struct People {
    clerk: Session,
    chief: Session,
    director: Session,
    deputy: Session,
    acct: Session,
    audit: Session,
    outsider: Session,
}

/// Levels: director 2 (decides), deputy 3, chief 4, accountants 4, clerk 5.
async fn people(t: &TestServer) -> People {
    for (id, name, level) in [
        ("clerk", "李專員", 5),
        ("chief", "林科長", 4),
        ("director", "陳處長", 2),
        ("deputy", "王副處長", 3),
        ("acct", "許主任", 4),
        ("audit", "張主任", 4),
        ("outsider", "路人", 5),
    ] {
        let body = json!({"user_id": id, "display_name": name, "title": "", "agency": "資訊局", "level": level});
        assert_eq!(admin(t, "/v1/admin/approval/people", body).await.status(), StatusCode::CREATED);
    }
    People {
        clerk: t.session("clerk").await,
        chief: t.session("chief").await,
        director: t.session("director").await,
        deputy: t.session("deputy").await,
        acct: t.session("acct").await,
        audit: t.session("audit").await,
        outsider: t.session("outsider").await,
    }
}

fn document(subject: &str) -> serde_json::Value {
    json!({
        "kind": "document",
        "subject": subject,
        "body": b64::encode(format!("<p>{subject}</p>").as_bytes()),
        "urgency": "urgent",
        "agency": "資訊局",
        "decision_level": 2,
        "chain": ["clerk", "chief", "director"],
    })
}

async fn create(t: &TestServer, body: serde_json::Value) -> ItemCreated {
    let response = admin(t, "/v1/admin/approval/items", body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn detail(t: &TestServer, s: &Session, id: &str) -> ItemDetail {
    let response = t.authed(s, Method::GET, &format!("/v1/approval/items/{id}")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn inbox(t: &TestServer, s: &Session, query: &str) -> Inbox {
    let response = t.authed(s, Method::GET, &format!("/v1/approval/inbox{query}")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// What the phone signs after showing `d`: its version and the hash of the body it rendered.
fn signed(s: &Session, d: &ItemDetail, action: Action, opinion: &str, change: impl FnOnce(&mut SignedAction)) -> SignedAction {
    let mut a = SignedAction {
        item_id: d.summary.item_id.clone(),
        version: d.summary.version,
        body_sha256: d.body.as_deref().map_or_else(String::new, |b| {
            b64::encode(ring::digest::digest(&ring::digest::SHA256, &b64::decode(b).unwrap()).as_ref())
        }),
        action,
        opinion: opinion.into(),
        cosigners: Vec::new(),
        cosign_mode: None,
        return_to: None,
        acting_for: None,
        time_ms: now_ms(),
        signature: String::new(),
    };
    change(&mut a);
    a.signature = s.phone.sign(&action_message(&s.device_id, &a));
    a
}

async fn send(t: &TestServer, s: &Session, a: &SignedAction, key: &str) -> reqwest::Response {
    t.authed(s, Method::POST, "/v1/approval/actions").header(headers::IDEMPOTENCY_KEY, key).json(a).send().await.unwrap()
}

async fn act(t: &TestServer, s: &Session, a: &SignedAction) -> ActionReceipt {
    let response = send(t, s, a, &random_id()).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Reads the item as `s`, then signs and sends one action.
async fn read_and_act(t: &TestServer, s: &Session, id: &str, action: Action, opinion: &str, change: impl FnOnce(&mut SignedAction)) -> ActionReceipt {
    let d = detail(t, s, id).await;
    act(t, s, &signed(s, &d, action, opinion, change)).await
}

fn assert_done(r: &ActionReceipt) {
    assert_eq!(r.status, ActionStatus::Done, "{r:?}");
}

fn assert_verdict(r: &ActionReceipt, status: ActionStatus, code: &str) {
    assert_eq!((r.status, r.code.as_deref()), (status, Some(code)), "{r:?}");
    assert!(r.message.as_deref().is_some_and(|m| !m.is_empty()));
}

fn audited(t: &TestServer, outcome: &str) -> i64 {
    t.count(&format!("SELECT count(*) FROM audit_log WHERE action = 'approval.act' AND outcome = '{outcome}'"))
}

#[tokio::test]
async fn a_document_goes_through_review_cosigning_and_final_approval() {
    let t = TestServer::start().await;
    let p = people(&t).await;
    let item = create(&t, document("無線網路擴充計畫")).await;
    assert_eq!((item.version, item.holder.as_str()), (1, "chief"));
    let id = item.item_id.as_str();

    // The reviewer sees it, may send it on or to co-signers, but not decide it.
    let listed = inbox(&t, &p.chief, "").await;
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.counts.document, 1);
    assert!(inbox(&t, &p.director, "").await.items.is_empty());
    let d = detail(&t, &p.chief, id).await;
    assert!(d.actions.contains(&Action::Forward) && d.actions.contains(&Action::RequestCosign));
    assert!(!d.actions.contains(&Action::Approve));
    assert_eq!(d.chain.iter().map(|c| c.level).collect::<Vec<_>>(), vec![5, 4, 2]);
    let r = act(&t, &p.chief, &signed(&p.chief, &d, Action::Approve, "同意", |_| {})).await;
    assert_verdict(&r, ActionStatus::Refused, codes::NOT_DECIDER);

    // 暫存: kept for its writer only, and the version does not move.
    let r = read_and_act(&t, &p.chief, id, Action::SaveDraft, "擬陳會會計室", |_| {}).await;
    assert_done(&r);
    assert_eq!(r.version, 1);
    assert_eq!(detail(&t, &p.chief, id).await.my_draft.as_deref(), Some("擬陳會會計室"));
    assert_eq!(detail(&t, &p.clerk, id).await.my_draft, None);

    // 陳會 in parallel to two co-signers: both hold it at once.
    let r = read_and_act(&t, &p.chief, id, Action::RequestCosign, "請表示意見", |a| {
        a.cosigners = vec!["acct".into(), "audit".into()];
        a.cosign_mode = Some(CosignMode::Parallel);
    })
    .await;
    assert_done(&r);
    assert_eq!(r.version, 2);
    assert!(detail(&t, &p.chief, id).await.my_draft.is_none(), "sending clears the draft");
    assert_eq!(inbox(&t, &p.acct, "").await.items.len(), 1);
    assert_eq!(inbox(&t, &p.audit, "").await.items.len(), 1);
    assert!(inbox(&t, &p.chief, "").await.items.is_empty());
    let d = detail(&t, &p.acct, id).await;
    assert_eq!(d.summary.state, ItemState::Cosigning);
    assert_eq!(d.actions, vec![Action::SaveDraft, Action::Cosign]);

    // A co-sign opinion is required; 加會 brings in one more co-signer.
    let r = act(&t, &p.acct, &signed(&p.acct, &d, Action::Cosign, " ", |_| {})).await;
    assert_verdict(&r, ActionStatus::Refused, codes::OPINION_REQUIRED);
    let r = act(&t, &p.acct, &signed(&p.acct, &d, Action::Cosign, "經費無誤", |a| a.cosigners = vec!["deputy".into()])).await;
    assert_done(&r);
    assert_eq!(inbox(&t, &p.deputy, "").await.items.len(), 1);
    assert_done(&read_and_act(&t, &p.audit, id, Action::Cosign, "程序無誤", |_| {}).await);
    assert!(inbox(&t, &p.chief, "").await.items.is_empty(), "one co-signer still pending");
    assert_done(&read_and_act(&t, &p.deputy, id, Action::Cosign, "敬會", |_| {}).await);

    // The last opinion returns it to who asked; 陳核 takes it to the decider.
    let d = detail(&t, &p.chief, id).await;
    assert_eq!((d.summary.state, d.summary.actionable), (ItemState::Routing, true));
    assert_done(&act(&t, &p.chief, &signed(&p.chief, &d, Action::Forward, "陳核", |_| {})).await);
    let d = detail(&t, &p.director, id).await;
    assert!(d.actions.contains(&Action::Approve) && !d.actions.contains(&Action::Forward));
    let r = act(&t, &p.director, &signed(&p.director, &d, Action::Approve, "", |_| {})).await;
    assert_verdict(&r, ActionStatus::Refused, codes::OPINION_REQUIRED);
    let r = act(&t, &p.director, &signed(&p.director, &d, Action::Approve, "如擬", |_| {})).await;
    assert_done(&r);

    let d = detail(&t, &p.director, id).await;
    assert_eq!(d.summary.state, ItemState::Decided);
    assert!(d.actions.is_empty());
    let steps: Vec<&str> = d.history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(steps, ["create", "request_cosign", "cosign", "cosign", "cosign", "forward", "approve"]);
    assert_eq!(d.history[1].to, ["acct", "audit"]);
    assert_eq!(d.history[2].to, ["audit", "deputy"], "after 加會 the round waits for both");
    assert_eq!(d.history[4].to, ["chief"]);
    assert!(inbox(&t, &p.director, "").await.items.is_empty());
    assert_eq!(audited(&t, "ok"), 7);
    assert_eq!(audited(&t, codes::OPINION_REQUIRED), 2);
    assert_eq!(audited(&t, codes::NOT_DECIDER), 1);
    assert_eq!(t.count("SELECT count(*) FROM approval_verdicts"), 10);
}

#[tokio::test]
async fn sequential_cosigners_hold_it_one_after_another() {
    let t = TestServer::start().await;
    let p = people(&t).await;
    let id = create(&t, document("人事案")).await.item_id;
    assert_done(&read_and_act(&t, &p.chief, &id, Action::RequestCosign, "", |a| {
        a.cosigners = vec!["acct".into(), "audit".into()];
        a.cosign_mode = Some(CosignMode::Sequential);
    })
    .await);
    assert!(inbox(&t, &p.audit, "").await.items.is_empty());
    let r = read_and_act(&t, &p.audit, &id, Action::Cosign, "先會", |_| {}).await;
    assert_verdict(&r, ActionStatus::Conflict, codes::NOT_HOLDER);
    assert_done(&read_and_act(&t, &p.acct, &id, Action::Cosign, "會畢", |_| {}).await);
    assert_eq!(inbox(&t, &p.audit, "").await.items.len(), 1);
    // A co-sign request needs a mode and real, distinct people.
    let r = read_and_act(&t, &p.audit, &id, Action::Cosign, "加會", |a| a.cosigners = vec!["acct".into()]).await;
    assert_verdict(&r, ActionStatus::Refused, codes::BAD_COSIGNERS);
}

#[tokio::test]
async fn returns_need_a_reason_and_recall_closes_once_opened() {
    let t = TestServer::start().await;
    let p = people(&t).await;
    let id = create(&t, document("採購案")).await.item_id;
    assert_done(&read_and_act(&t, &p.chief, &id, Action::Forward, "", |_| {}).await);
    // The director's phone lists it (version 2) but has not opened it.
    let listed = inbox(&t, &p.director, "").await;
    assert_eq!(listed.items[0].version, 2);
    let d = detail(&t, &p.chief, &id).await;
    assert!(d.actions.contains(&Action::Recall));
    let stale = {
        // What the director's phone would sign from the version it listed.
        let mut stale_view = d.clone();
        stale_view.summary.version = 2;
        signed(&p.director, &stale_view, Action::Approve, "如擬", |_| {})
    };
    // 取回 before the next holder opened it: back to the sender.
    assert_done(&act(&t, &p.chief, &signed(&p.chief, &d, Action::Recall, "", |_| {})).await);
    assert!(inbox(&t, &p.director, "").await.items.is_empty());
    let r = act(&t, &p.director, &stale).await;
    assert_verdict(&r, ActionStatus::Conflict, codes::RECALLED);

    // Sent again and opened by the director: recall is closed.
    assert_done(&read_and_act(&t, &p.chief, &id, Action::Forward, "", |_| {}).await);
    let director_view = detail(&t, &p.director, &id).await;
    let r = read_and_act(&t, &p.chief, &id, Action::Recall, "", |_| {}).await;
    assert_verdict(&r, ActionStatus::Refused, codes::RECALL_CLOSED);
    // Only the sender recalls.
    let r = read_and_act(&t, &p.clerk, &id, Action::Recall, "", |_| {}).await;
    assert_verdict(&r, ActionStatus::Refused, codes::RECALL_CLOSED);

    // 退回 needs a reason; to the drafter skips the reviewer.
    let r = act(&t, &p.director, &signed(&p.director, &director_view, Action::Return, "", |_| {})).await;
    assert_verdict(&r, ActionStatus::Refused, codes::REASON_REQUIRED);
    let r = act(&t, &p.director, &signed(&p.director, &director_view, Action::Return, "預算來源請補充", |a| a.return_to = Some(ReturnTo::Drafter))).await;
    assert_done(&r);
    let d = detail(&t, &p.clerk, &id).await;
    assert_eq!((d.step, d.summary.actionable), (0, true));
    assert!(!d.actions.contains(&Action::Return));
    let r = act(&t, &p.clerk, &signed(&p.clerk, &d, Action::Return, "?", |_| {})).await;
    assert_verdict(&r, ActionStatus::Refused, codes::ACTION_NOT_ALLOWED);
    // Back on the way, and returned to the previous holder only.
    assert_done(&act(&t, &p.clerk, &signed(&p.clerk, &d, Action::Forward, "已補充", |_| {})).await);
    assert_done(&read_and_act(&t, &p.chief, &id, Action::Forward, "", |_| {}).await);
    assert_done(&read_and_act(&t, &p.director, &id, Action::Return, "再議", |a| a.return_to = Some(ReturnTo::Previous)).await);
    assert_eq!(detail(&t, &p.chief, &id).await.step, 1);
    assert_eq!(audited(&t, codes::RECALLED), 1);
    assert_eq!(audited(&t, codes::RECALL_CLOSED), 2);
}

#[tokio::test]
async fn proxies_act_in_their_own_name_for_the_absent_and_loops_are_refused() {
    let t = TestServer::start().await;
    let p = people(&t).await;
    let id = create(&t, document("人事甄選案")).await.item_id;
    assert_done(&read_and_act(&t, &p.chief, &id, Action::Forward, "", |_| {}).await);
    let now = now_ms();
    let proxy = |user: &str, proxy: &str| json!({"user_id": user, "proxy_id": proxy, "from_ms": now - 60_000, "until_ms": now + DAY_MS});
    assert_eq!(admin(&t, "/v1/admin/approval/proxies", proxy("director", "deputy")).await.status(), StatusCode::CREATED);

    // The deputy sees it as 代, and must say so when signing.
    let listed = inbox(&t, &p.deputy, "").await;
    assert_eq!(listed.items[0].acting_for.as_deref(), Some("director"));
    let d = detail(&t, &p.deputy, &id).await;
    assert!(d.actions.contains(&Action::Approve), "the deputy decides at the director's level");
    let r = act(&t, &p.deputy, &signed(&p.deputy, &d, Action::Approve, "代為決行", |_| {})).await;
    assert_verdict(&r, ActionStatus::Refused, codes::NOT_PROXY);
    let r = act(&t, &p.deputy, &signed(&p.deputy, &d, Action::Approve, "代為決行", |a| a.acting_for = Some("chief".into()))).await;
    assert_verdict(&r, ActionStatus::Refused, codes::NOT_PROXY);

    // A → B → C: the deputy is away too, so the accountant acts for the director.
    assert_eq!(admin(&t, "/v1/admin/approval/proxies", proxy("deputy", "acct")).await.status(), StatusCode::CREATED);
    assert!(inbox(&t, &p.deputy, "").await.items.is_empty());
    let r = act(&t, &p.deputy, &signed(&p.deputy, &d, Action::Approve, "代為決行", |a| a.acting_for = Some("director".into()))).await;
    assert_verdict(&r, ActionStatus::Conflict, codes::NOT_HOLDER);
    // Closing the loop back to the director is refused.
    let (status, code) = error_of(admin(&t, "/v1/admin/approval/proxies", proxy("acct", "director")).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, codes::PROXY_CYCLE));
    assert_eq!(admin(&t, "/v1/admin/approval/proxies", proxy("acct", "acct")).await.status(), StatusCode::BAD_REQUEST);

    let r = read_and_act(&t, &p.acct, &id, Action::Approve, "代為決行", |a| a.acting_for = Some("director".into())).await;
    assert_done(&r);
    let d = detail(&t, &p.director, &id).await;
    let last = d.history.last().unwrap();
    assert_eq!((last.actor.as_str(), last.acting_for.as_deref()), ("acct", Some("director")));
    let page = t.http.get(t.url(&format!("/v1/admin/approval/items/{id}/history.html"))).bearer_auth(t.server.admin_token()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("許主任（代 陳處長）"), "{html}");
    assert!(html.contains("決行") && html.contains("approval_not_proxy"));
    let unauthorised = t.http.get(t.url(&format!("/v1/admin/approval/items/{id}/history.html"))).send().await.unwrap();
    assert_eq!(unauthorised.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn classified_items_stay_at_the_desk() {
    let t = TestServer::start().await;
    let p = people(&t).await;
    let mut body = document("資安事件調查");
    body["classified"] = json!(true);
    body["attachments"] = json!([{"name": "log.txt", "content_type": "text/plain", "data": b64::encode(b"secret")}]);
    let id = create(&t, body).await.item_id;
    let listed = inbox(&t, &p.chief, "").await;
    assert!(listed.items[0].classified && listed.items[0].subject.is_none());
    let response = t.authed(&p.chief, Method::GET, &format!("/v1/approval/items/{id}")).send().await.unwrap();
    let text = response.text().await.unwrap();
    assert!(!text.contains("資安事件調查") && !text.contains(&b64::encode(b"<p>")), "{text}");
    let d: ItemDetail = serde_json::from_str(&text).unwrap();
    assert!(d.body.is_none() && d.attachments.is_empty() && d.history.is_empty() && d.actions.is_empty());
    let (status, code) = error_of(t.authed(&p.chief, Method::GET, &format!("/v1/approval/items/{id}/attachments/0")).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, codes::CLASSIFIED));
    let r = act(&t, &p.chief, &signed(&p.chief, &d, Action::Forward, "", |_| {})).await;
    assert_verdict(&r, ActionStatus::Refused, codes::CLASSIFIED);
}

#[tokio::test]
async fn replayed_altered_stale_and_misdirected_actions_are_refused_each_with_its_code() {
    let t = TestServer::start().await;
    let p = people(&t).await;
    let id = create(&t, document("契約變更")).await.item_id;
    let d = detail(&t, &p.chief, &id).await;

    // Not the holder (a conflict) and not a participant (unknown).
    let r = act(&t, &p.clerk, &signed(&p.clerk, &d, Action::Forward, "", |_| {})).await;
    assert_verdict(&r, ActionStatus::Conflict, codes::NOT_HOLDER);
    let r = act(&t, &p.outsider, &signed(&p.outsider, &d, Action::Forward, "", |_| {})).await;
    assert_verdict(&r, ActionStatus::Refused, codes::UNKNOWN_ITEM);
    // Claiming to act for the holder does not let an outsider learn more.
    let r = act(&t, &p.outsider, &signed(&p.outsider, &d, Action::Forward, "", |a| a.acting_for = Some("chief".into()))).await;
    assert_verdict(&r, ActionStatus::Refused, codes::UNKNOWN_ITEM);
    let (status, code) = error_of(t.authed(&p.outsider, Method::GET, &format!("/v1/approval/items/{id}")).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, codes::UNKNOWN_ITEM));

    // Altered: the signature covers other bytes.
    let mut altered = signed(&p.chief, &d, Action::Forward, "同意", |_| {});
    altered.opinion = "不同意".into();
    let (status, code) = error_of(send(&t, &p.chief, &altered, &random_id()).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, api_codes::SIGNATURE_INVALID));
    assert_eq!(audited(&t, api_codes::SIGNATURE_INVALID), 1);
    // A body other than the one of this version.
    let r = act(&t, &p.chief, &signed(&p.chief, &d, Action::Forward, "", |a| a.body_sha256 = b64::encode([0u8; 32]))).await;
    assert_verdict(&r, ActionStatus::Refused, codes::BODY_MISMATCH);
    // A signed time from the future.
    let r = act(&t, &p.chief, &signed(&p.chief, &d, Action::Forward, "", |a| a.time_ms += 3_600_000)).await;
    assert_verdict(&r, ActionStatus::Refused, codes::CLOCK_SKEW);

    // Accepted once; the same bytes under the same key are the stored receipt, under a
    // new key a replay.
    let forward = signed(&p.chief, &d, Action::Forward, "陳核", |_| {});
    let key = random_id();
    let first = send(&t, &p.chief, &forward, &key).await;
    let first: ActionReceipt = first.json().await.unwrap();
    assert_done(&first);
    let again = send(&t, &p.chief, &forward, &key).await;
    assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(again.json::<ActionReceipt>().await.unwrap(), first);
    let r = act(&t, &p.chief, &forward).await;
    assert_verdict(&r, ActionStatus::Refused, codes::REPLAYED);

    // The same person, from a second phone that read version 1: acted on elsewhere.
    let second = t.session("chief").await;
    let r = act(&t, &second, &signed(&second, &d, Action::Forward, "", |_| {})).await;
    assert_verdict(&r, ActionStatus::Conflict, codes::ACTED_ELSEWHERE);

    // Edited at the desk after the director read it: the version changed.
    let director_view = detail(&t, &p.director, &id).await;
    let edit = admin(&t, &format!("/v1/admin/approval/items/{id}/edit"), json!({"body": b64::encode(b"<p>v2</p>")})).await;
    assert_eq!(edit.status(), StatusCode::OK);
    let r = act(&t, &p.director, &signed(&p.director, &director_view, Action::Approve, "如擬", |_| {})).await;
    assert_verdict(&r, ActionStatus::Conflict, codes::VERSION_CHANGED);
    assert_eq!(r.version, director_view.summary.version + 1);
    let fresh = detail(&t, &p.director, &id).await;
    assert_eq!(b64::decode(fresh.body.as_deref().unwrap()).unwrap(), b"<p>v2</p>");
    assert_done(&act(&t, &p.director, &signed(&p.director, &fresh, Action::Approve, "如擬", |_| {})).await);

    assert_eq!(audited(&t, codes::UNKNOWN_ITEM), 2);
    for code in [codes::NOT_HOLDER, codes::BODY_MISMATCH, codes::CLOCK_SKEW, codes::REPLAYED, codes::ACTED_ELSEWHERE, codes::VERSION_CHANGED] {
        assert_eq!(audited(&t, code), 1, "{code}");
    }
    assert_eq!(t.count("SELECT count(*) FROM approval_verdicts WHERE status = 'conflict'"), 3);
    // A malformed action is a plain bad request.
    let mut long = signed(&p.director, &fresh, Action::Approve, "", |_| {});
    long.opinion = "長".repeat(2001);
    let (status, _) = error_of(send(&t, &p.director, &long, &random_id()).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_batch_judges_each_item_on_its_own() {
    let t = TestServer::start().await;
    let p = people(&t).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let id = create(&t, document(&format!("案{n}"))).await.item_id;
        if n < 4 {
            assert_done(&read_and_act(&t, &p.chief, &id, Action::Forward, "", |_| {}).await);
        }
        ids.push(id);
    }
    let mut views = Vec::new();
    for id in &ids[..4] {
        views.push(detail(&t, &p.director, id).await);
    }
    // Item 2 changes after the director read it; item 4 is still the chief's.
    admin(&t, &format!("/v1/admin/approval/items/{}/edit", ids[2]), json!({"subject": "案2（修正）"})).await;
    let chief_view = detail(&t, &p.chief, &ids[4]).await;
    let mut altered = signed(&p.director, &views[3], Action::Approve, "如擬", |_| {});
    altered.opinion = "駁回".into();
    let actions = vec![
        signed(&p.director, &views[0], Action::Approve, "如擬", |_| {}),
        signed(&p.director, &views[1], Action::Approve, "", |_| {}),
        signed(&p.director, &views[2], Action::Approve, "如擬", |_| {}),
        altered,
        signed(&p.director, &chief_view, Action::Approve, "如擬", |_| {}),
    ];
    let response = t.authed(&p.director, Method::POST, "/v1/approval/actions/batch").header(headers::IDEMPOTENCY_KEY, random_id()).json(&json!({"actions": actions})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let batch: BatchReceipt = response.json().await.unwrap();
    let got: Vec<(ActionStatus, Option<&str>)> = batch.results.iter().map(|r| (r.status, r.code.as_deref())).collect();
    assert_eq!(got, vec![
        (ActionStatus::Done, None),
        (ActionStatus::Refused, Some(codes::OPINION_REQUIRED)),
        (ActionStatus::Conflict, Some(codes::VERSION_CHANGED)),
        (ActionStatus::Refused, Some(api_codes::SIGNATURE_INVALID)),
        (ActionStatus::Conflict, Some(codes::NOT_HOLDER)),
    ]);
    assert_eq!(batch.results.iter().map(|r| r.item_id.as_str()).collect::<Vec<_>>(), ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(detail(&t, &p.director, &ids[0]).await.summary.state, ItemState::Decided);
    assert_eq!(detail(&t, &p.director, &ids[1]).await.summary.state, ItemState::Routing);
    assert_eq!(t.count("SELECT count(*) FROM audit_log WHERE action = 'approval.act'") - 4, 5, "one audit row per item");

    // More than 50 is refused whole.
    let many: Vec<SignedAction> = (0..51).map(|_| actions[0].clone()).collect();
    let response = t.authed(&p.director, Method::POST, "/v1/approval/actions/batch").header(headers::IDEMPOTENCY_KEY, random_id()).json(&json!({"actions": many})).send().await.unwrap();
    assert_eq!(error_of(response).await.0, StatusCode::BAD_REQUEST);
}

fn taipei(date: &str, hour: i64) -> i64 {
    workday_start_ms(date_day(date).unwrap(), 0) + hour * 3_600_000
}

#[tokio::test]
async fn deadlines_count_working_days_on_the_configured_calendar() {
    let t = TestServer::start().await;
    people(&t).await;
    let at = |urgency: &str| {
        let mut b = document("期限");
        b["urgency"] = json!(urgency);
        b["received_at_ms"] = json!(taipei("2026-12-03", 10)); // a Thursday
        b
    };
    // Across the weekend: Fri, Mon, Tue → due at the end of Tuesday.
    assert_eq!(create(&t, at("urgent")).await.due_at_ms, taipei("2026-12-09", 0));
    assert_eq!(create(&t, at("most")).await.due_at_ms, taipei("2026-12-05", 0));
    let calendar = json!({"days": [{"date": "2026-12-07", "kind": "holiday", "name": "補假"}]});
    assert_eq!(admin(&t, "/v1/admin/approval/calendar", calendar).await.status(), StatusCode::OK);
    assert_eq!(create(&t, at("urgent")).await.due_at_ms, taipei("2026-12-10", 0));
    let calendar = json!({"days": [{"date": "2026-12-05", "kind": "workday", "name": "補班"}]});
    assert_eq!(admin(&t, "/v1/admin/approval/calendar", calendar).await.status(), StatusCode::OK);
    assert_eq!(create(&t, at("urgent")).await.due_at_ms, taipei("2026-12-09", 0));
    assert_eq!(create(&t, at("normal")).await.due_at_ms, taipei("2026-12-12", 0));
    let bad = json!({"days": [{"date": "2026-02-30", "kind": "holiday"}]});
    assert_eq!(admin(&t, "/v1/admin/approval/calendar", bad).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_inbox_pages_filters_counts_and_syncs_changes() {
    let t = TestServer::start().await;
    let p = people(&t).await;
    let now = now_ms();
    let mut ids = Vec::new();
    for (n, urgency) in ["normal", "most", "urgent", "normal"].iter().enumerate() {
        let mut b = document(&format!("文{n}"));
        b["urgency"] = json!(urgency);
        b["agency"] = json!(if n == 3 { "工務局" } else { "資訊局" });
        ids.push(create(&t, b).await.item_id);
    }
    let leave = json!({
        "kind": "leave", "subject": "特休", "urgency": "most", "agency": "資訊局", "decision_level": 2,
        "chain": ["clerk", "chief", "director"],
        "leave": {"leave_type": "特休", "from_ms": now + DAY_MS, "until_ms": now + 2 * DAY_MS, "hours": 8, "cover_user_id": "acct"},
    });
    let leave_id = create(&t, leave).await.item_id;
    let overdue = {
        let mut b = document("逾期");
        b["received_at_ms"] = json!(now - 30 * DAY_MS);
        create(&t, b).await.item_id
    };

    let all = inbox(&t, &p.chief, "").await;
    assert_eq!((all.counts.document, all.counts.leave, all.counts.form, all.counts.overdue), (5, 1, 0, 1));
    let dues: Vec<i64> = all.items.iter().map(|i| i.due_at_ms).collect();
    assert!(dues.windows(2).all(|w| w[0] <= w[1]), "due first");
    assert_eq!(all.items[0].item_id, overdue);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor.as_ref().map_or("?limit=2".to_owned(), |c| format!("?limit=2&cursor={c}"));
        let page = inbox(&t, &p.chief, &q).await;
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().map(|i| i.item_id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, all.items.iter().map(|i| i.item_id.clone()).collect::<Vec<_>>());
    assert_eq!(inbox(&t, &p.chief, "?kind=leave").await.items.len(), 1);
    assert_eq!(inbox(&t, &p.chief, "?urgency=most").await.items.len(), 2);
    assert_eq!(inbox(&t, &p.chief, "?agency=工務局").await.items[0].item_id, ids[3]);
    assert_eq!(inbox(&t, &p.chief, &format!("?due_before_ms={now}")).await.items.len(), 1);
    let (status, _) = error_of(t.authed(&p.chief, Method::GET, "/v1/approval/inbox?kind=memo").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The leave request's body is rendered from its fields, and its details travel.
    let d = detail(&t, &p.chief, &leave_id).await;
    assert_eq!(d.leave.as_ref().unwrap().cover_user_id, "acct");
    assert!(String::from_utf8(b64::decode(d.body.as_deref().unwrap()).unwrap()).unwrap().contains("職務代理人"));

    // Sync: everything first, then only what changed.
    let changes = |since: i64| {
        let t = &t;
        let s = &p.director;
        async move {
            let response = t.authed(s, Method::GET, &format!("/v1/approval/changes?since={since}")).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Changes>().await.unwrap()
        }
    };
    let first = changes(0).await;
    assert_eq!(first.items.len(), 6);
    assert!(first.items.iter().all(|i| !i.actionable));
    assert!(changes(first.cursor).await.items.is_empty());
    assert_done(&read_and_act(&t, &p.chief, &ids[1], Action::Forward, "", |_| {}).await);
    let next = changes(first.cursor).await;
    assert_eq!(next.items.len(), 1);
    assert!(next.items[0].actionable && next.items[0].item_id == ids[1]);
    let outsider = t.authed(&p.outsider, Method::GET, "/v1/approval/changes?since=0").send().await.unwrap();
    assert!(outsider.json::<Changes>().await.unwrap().items.is_empty());
}

#[tokio::test]
async fn attachments_download_with_their_type_and_limits() {
    let t = TestServer::start().await;
    let p = people(&t).await;
    let pdf = b"%PDF-1.7 minimal".to_vec();
    let mut b = document("附件");
    b["attachments"] = json!([{"name": "計畫書.pdf", "content_type": "application/pdf", "data": b64::encode(&pdf)}]);
    let id = create(&t, b).await.item_id;
    let d = detail(&t, &p.chief, &id).await;
    assert_eq!((d.attachments[0].size, d.attachments[0].content_type.as_str()), (pdf.len() as u64, "application/pdf"));
    let response = t.authed(&p.chief, Method::GET, &format!("/v1/approval/items/{id}/attachments/0")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[reqwest::header::CONTENT_TYPE], "application/pdf");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.bytes().await.unwrap().as_ref(), pdf.as_slice());
    let missing = t.authed(&p.chief, Method::GET, &format!("/v1/approval/items/{id}/attachments/1")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let other = t.authed(&p.outsider, Method::GET, &format!("/v1/approval/items/{id}/attachments/0")).send().await.unwrap();
    assert_eq!(error_of(other).await.1, codes::UNKNOWN_ITEM);

    for (name, kind) in [("run.exe", "application/x-msdownload"), ("../x.pdf", "application/pdf")] {
        let mut b = document("壞附件");
        b["attachments"] = json!([{"name": name, "content_type": kind, "data": b64::encode(b"x")}]);
        let (status, code) = error_of(admin(&t, "/v1/admin/approval/items", b).await).await;
        assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, codes::ATTACHMENT_REJECTED));
    }
    // Larger than the ordinary request limit, within the item route's own.
    let mut b = document("大附件");
    b["attachments"] = json!([{"name": "scan.png", "content_type": "image/png", "data": b64::encode(vec![7u8; 300_000])}]);
    create(&t, b).await;
    let mut b = document("太大");
    b["attachments"] = json!([{"name": "scan.png", "content_type": "image/png", "data": b64::encode(vec![7u8; 4 * 1024 * 1024 + 1])}]);
    assert_eq!(error_of(admin(&t, "/v1/admin/approval/items", b).await).await.1, codes::ATTACHMENT_REJECTED);
    // A chain whose last person is not at the decision level is refused.
    let mut b = document("層級");
    b["decision_level"] = json!(3);
    assert_eq!(admin(&t, "/v1/admin/approval/items", b).await.status(), StatusCode::BAD_REQUEST);
    let unauthorised = t.http.post(t.url("/v1/admin/approval/items")).json(&document("x")).send().await.unwrap();
    assert_eq!(unauthorised.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn reminders_are_recorded_at_most_once_per_four_hours_per_item() {
    let t = TestServer::start().await;
    let p = people(&t).await;
    let now = now_ms();
    let mut soon = document("即將到期");
    soon["urgency"] = json!("most");
    soon["received_at_ms"] = json!(now - 10 * DAY_MS);
    let due = create(&t, soon).await.item_id;
    let mut later = document("尚早");
    later["urgency"] = json!("normal");
    create(&t, later).await;
    let record = |at: i64| {
        let out = t.db().with(|c| Ok(taipei_server::approval::reminders::record_due(c, at))).unwrap().unwrap();
        out.into_iter().map(|r| (r.item_id, r.user_id)).collect::<Vec<_>>()
    };
    assert_eq!(record(now), vec![(due.clone(), "chief".to_owned())]);
    assert!(record(now + 60_000).is_empty());
    assert!(record(now + 4 * 3_600_000 - 1).is_empty());
    // After four hours, again — to whoever acts now (the chief's proxy).
    admin(&t, "/v1/admin/approval/proxies", json!({"user_id": "chief", "proxy_id": "acct", "from_ms": now, "until_ms": now + 2 * DAY_MS})).await;
    assert_eq!(record(now + 4 * 3_600_000 + 1), vec![(due.clone(), "acct".to_owned())]);
    // Decided items are not reminded.
    assert_done(&read_and_act(&t, &p.acct, &due, Action::Forward, "", |a| a.acting_for = Some("chief".into())).await);
    assert_done(&read_and_act(&t, &p.director, &due, Action::Approve, "准", |_| {}).await);
    assert!(record(now + 9 * 3_600_000).is_empty());
    assert_eq!(t.count("SELECT count(*) FROM approval_reminders"), 2);
}

#[tokio::test]
async fn the_demo_seed_gives_a_manager_a_proxy_and_items() {
    let t = TestServer::start().await;
    let db = common::open_db(&t.dir).await;
    let demo = taipei_server::approval::seed::demo(&db, now_ms()).await.unwrap();
    assert_eq!(demo.items.len(), 5);
    let chief = t.session(&demo.chief).await;
    let listed = inbox(&t, &chief, "").await;
    assert_eq!((listed.counts.document, listed.counts.leave, listed.counts.form), (3, 1, 1));
    assert_eq!(listed.items.iter().filter(|i| i.classified).count(), 1);
    let deputy = t.session(&demo.proxy).await;
    let id = &listed.items.iter().find(|i| !i.classified).unwrap().item_id;
    assert_done(&read_and_act(&t, &chief, id, Action::Forward, "", |_| {}).await);
    let proxied = inbox(&t, &deputy, "").await;
    assert_eq!(proxied.items[0].acting_for.as_deref(), Some(demo.manager.as_str()));
}

/// One signed approval sent at once to two server processes on one database, under
/// different idempotency keys (two retries that took different routes): done once;
/// the other copy is judged a replay of an accepted signature, and the item moved on once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_action_raced_on_two_servers_is_done_once() {
    let t = TestServer::start().await;
    let twin = t.twin().await;
    done_once_across(&t, [&t.server.base_url(), &twin.server.base_url()]).await;
    twin.server.shutdown().await;
}

/// The same race across two `reference-server` OS processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_action_raced_on_two_processes_is_done_once() {
    let (t, a, b) = common::process::three_servers().await;
    done_once_across(&t, [&a.base, &b.base]).await;
}

/// A server process SIGKILLed in the middle of an approval's write transaction — the
/// item moved, its event and verdict written, the transaction waiting for the audit row
/// behind a lock the test holds — leaves nothing of it; the phone's retry under the same
/// idempotency key on the other process does it once, and a second retry is the replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_whose_process_is_killed_mid_write_leaves_nothing_and_its_retry_is_done_once() {
    if common::postgres_only("the test holds a server's transaction open with a PostgreSQL table lock") {
        return;
    }
    let (t, mut a, b) = common::process::three_servers().await;
    let p = people(&t).await;
    let id = create(&t, document("中斷核准")).await.item_id;
    let d = detail(&t, &p.chief, &id).await;
    let forward = signed(&p.chief, &d, Action::Forward, "陳核", |_| {});
    let key = random_id();
    let send_at = |base: &str| {
        t.authed_at(base, &p.chief, Method::POST, "/v1/approval/actions").header(headers::IDEMPOTENCY_KEY, &key).json(&forward).send()
    };
    let state = |t: &TestServer| {
        let item = format!("item_id = '{id}'");
        [
            t.count(&format!("SELECT seq FROM approval_items WHERE {item}")),
            t.count(&format!("SELECT COUNT(*) FROM approval_events WHERE {item} AND action = 'forward'")),
            t.count(&format!("SELECT COUNT(*) FROM approval_verdicts WHERE {item}")),
            t.count("SELECT COUNT(*) FROM audit_log"),
            t.count(&format!("SELECT COUNT(*) FROM idempotency WHERE key = '{key}'")),
        ]
    };
    let before = state(&t);

    let lock = common::process::TableLock::take(&t, "audit_log");
    let request = tokio::spawn(send_at(&a.base));
    let pid = lock.blocked_writer("audit_log").await;
    a.kill();
    lock.release();
    common::process::TableLock::wait_gone(&t, pid).await;
    assert!(request.await.unwrap().is_err(), "the killed process answered");
    assert_eq!(state(&t), before, "a half-done approval is visible");

    let retry = send_at(&b.base).await.unwrap();
    assert_eq!(retry.status(), StatusCode::OK);
    let receipt: ActionReceipt = retry.json().await.unwrap();
    assert_eq!(receipt.status, ActionStatus::Done, "{receipt:?}");
    let replay = send_at(&b.base).await.unwrap();
    assert_eq!(replay.status(), StatusCode::OK);
    assert!(replay.headers().contains_key("idempotent-replayed"));
    assert_eq!(replay.json::<ActionReceipt>().await.unwrap(), receipt);
    let after = state(&t);
    assert_eq!((after[1], after[2] - before[2], after[4]), (1, 1, 1), "{before:?} → {after:?}");
}

/// One signed forward sent at once to each of `bases`, under two idempotency keys.
async fn done_once_across(t: &TestServer, bases: [&str; 2]) {
    let p = people(t).await;
    let id = create(t, document("同時核准")).await.item_id;
    let d = detail(t, &p.chief, &id).await;
    let forward = signed(&p.chief, &d, Action::Forward, "陳核", |_| {});
    let send_at = |base: &str, key: String| {
        t.authed_at(base, &p.chief, Method::POST, "/v1/approval/actions").header(headers::IDEMPOTENCY_KEY, key).json(&forward).send()
    };
    let (a, b) = tokio::join!(send_at(bases[0], random_id()), send_at(bases[1], random_id()));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    let receipts: [ActionReceipt; 2] = [a.json().await.unwrap(), b.json().await.unwrap()];
    assert_eq!(receipts.iter().filter(|r| r.status == ActionStatus::Done).count(), 1, "{receipts:?}");
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM approval_events WHERE item_id = '{id}' AND action = 'forward'")), 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM approval_verdicts WHERE status = 'done'"), 1);
}
