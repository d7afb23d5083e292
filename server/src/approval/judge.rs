//! Judging one signed action against the item as it is now, inside the caller's
//! transaction. Every check that can refuse runs before the first write, so a refused
//! action changes nothing but its own verdict and audit rows.

use crate::db::{Conn, OptionalExtension};
use crate::params;
use taipei_protocol::approval::{
    Action, ActionReceipt, ActionStatus, CosignMode, ItemState, MAX_COSIGNERS, ReturnTo, SignedAction, codes,
};
use taipei_protocol::b64;

use super::store::{self, Item};
use crate::audit::{self, Entry};
use crate::error::ApiError;
use crate::random;

/// A signed time further ahead of the server clock than this is refused.
const MAX_AHEAD_MS: i64 = 5 * 60 * 1000;

/// Who signed, as the device's token says.
#[derive(Debug, Clone)]
pub struct Signer {
    pub user_id: String,
    pub device_id: String,
    pub entry: Entry,
}

/// A refusal or conflict, before it becomes a receipt.
struct Verdict {
    code: &'static str,
    message: String,
}

fn no(code: &'static str, message: impl Into<String>) -> Verdict {
    Verdict { code, message: message.into() }
}

/// Judges `action` (whose signature the caller has verified, or found bad:
/// `signature` is then the refusal) and records its verdict and audit row.
pub fn judge(
    tx: &Conn<'_>,
    signer: &Signer,
    action: &SignedAction,
    signature: Result<Vec<u8>, ApiError>,
    now: i64,
) -> Result<ActionReceipt, ApiError> {
    let item = store::load(tx, &action.item_id)?;
    let version = item.as_ref().map_or(0, |i| i.version);
    let (outcome, signature) = match signature {
        Err(e) => (Err(no(e.code, e.message)), Vec::new()),
        Ok(sig) => {
            let outcome = match &item {
                None => Err(no(codes::UNKNOWN_ITEM, "no such item for this person")),
                Some(item) => check(tx, signer, item, action, &sig, now),
            };
            (outcome, sig)
        }
    };
    let (status, code, message, version) = match outcome {
        Ok(plan) => {
            let version = apply(tx, signer, item.as_ref().ok_or_else(|| ApiError::internal("judged without an item"))?, action, plan, &signature, now)?;
            (ActionStatus::Done, None, None, version)
        }
        Err(v) => {
            let status = if codes::is_conflict(v.code) { ActionStatus::Conflict } else { ActionStatus::Refused };
            (status, Some(v.code), Some(v.message), version)
        }
    };
    tx.execute(
        "INSERT INTO approval_verdicts (item_id, user_id, device_id, action, status, code, at_ms, signature) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![action.item_id, signer.user_id, signer.device_id, action.action.as_str(), status_str(status), code, now, signature],
    )?;
    let mut entry = signer.entry.clone();
    if let Some(code) = code {
        code.clone_into(&mut entry.outcome);
    }
    audit::record(tx, &entry)?;
    Ok(ActionReceipt {
        id: random::id()?,
        item_id: action.item_id.clone(),
        status,
        code: code.map(str::to_owned),
        message,
        version,
        server_time_ms: now,
    })
}

fn status_str(s: ActionStatus) -> &'static str {
    match s {
        ActionStatus::Done => "done",
        ActionStatus::Conflict => "conflict",
        ActionStatus::Refused => "refused",
    }
}

/// What an accepted action will do.
struct Plan {
    /// Whom the signer acted as (themselves, or the absent person: 代).
    principal: String,
}

fn check(tx: &Conn<'_>, signer: &Signer, item: &Item, a: &SignedAction, sig: &[u8], now: i64) -> Result<Plan, Verdict> {
    let db = |e: ApiError| no(e.code, e.message);
    let replayed: bool = tx
        .query_row("SELECT EXISTS(SELECT 1 FROM approval_verdicts WHERE signature = ?1 AND status = 'done')", [sig], |r| r.get(0))
        .map_err(|e| db(e.into()))?;
    if replayed {
        return Err(no(codes::REPLAYED, "this signed action was already accepted; a copy is not a new action"));
    }
    // Someone on the named person's proxy path takes part through them (a proxy of the
    // last sender may recall; one whose turn passed on gets a conflict, not "unknown").
    let stands_in = match &a.acting_for {
        Some(p) => store::proxy_path(tx, p, now).map_err(db)?.contains(&signer.user_id),
        None => false,
    };
    if !stands_in && !store::may_read(tx, item, &signer.user_id, now).map_err(db)? {
        return Err(no(codes::UNKNOWN_ITEM, "no such item for this person"));
    }
    if item.classified {
        return Err(no(codes::CLASSIFIED, "a classified item is handled at the desk only"));
    }
    if a.time_ms > now + MAX_AHEAD_MS {
        return Err(no(codes::CLOCK_SKEW, "the signed time is ahead of the server clock"));
    }
    if a.version != item.version {
        return Err(moved_on(tx, signer, item, a).map_err(db)?);
    }
    if a.body_sha256 != b64::encode(&item.body_sha256) {
        return Err(no(codes::BODY_MISMATCH, "the body signed is not this version's body"));
    }
    if a.action == Action::Recall {
        return check_recall(tx, signer, item, a, now);
    }
    let principal = match store::acting_as(tx, item, &signer.user_id, now).map_err(db)? {
        Some(p) => p,
        None => return Err(not_holder_or_proxy(a)),
    };
    check_acting_for(signer, a, &principal)?;
    let last = item.chain.len().saturating_sub(1);
    match (a.action, item.state) {
        (Action::SaveDraft, _) => {}
        (Action::Forward, ItemState::Routing) if item.step < last => {}
        (Action::Forward, ItemState::Routing) => {
            return Err(no(codes::ACTION_NOT_ALLOWED, "the decider approves or returns; there is no one to send it on to"));
        }
        (Action::RequestCosign, ItemState::Routing) => check_cosigners(tx, item, a, &principal, true).map_err(|e| e.unwrap_or_else(db))?,
        (Action::Cosign, ItemState::Cosigning) => {
            if a.opinion.trim().is_empty() {
                return Err(no(codes::OPINION_REQUIRED, "a co-sign opinion (會辦意見) is required"));
            }
            if !a.cosigners.is_empty() {
                check_cosigners(tx, item, a, &principal, false).map_err(|e| e.unwrap_or_else(db))?;
            }
        }
        (Action::Approve, ItemState::Routing) => {
            let level = store::level_of(tx, &principal).map_err(db)?;
            if item.step != last || level != Some(item.decision_level) {
                return Err(no(codes::NOT_DECIDER, format!("only the holder of decision level {} approves this item as final", item.decision_level)));
            }
            if a.opinion.trim().is_empty() {
                return Err(no(codes::OPINION_REQUIRED, "approving as final (決行) needs an opinion"));
            }
        }
        (Action::Return, ItemState::Routing) => {
            if a.opinion.trim().is_empty() {
                return Err(no(codes::REASON_REQUIRED, "a return (退回) needs a reason"));
            }
            if item.step == 0 {
                return Err(no(codes::ACTION_NOT_ALLOWED, "the drafter holds it; there is no one to return it to"));
            }
        }
        (action, _) => {
            return Err(no(codes::ACTION_NOT_ALLOWED, format!("{} is not possible while the item is {}", action.as_str(), store::state_str(item.state))));
        }
    }
    // Routing resolves the next holders' proxies now, so a loop is refused before anything moves.
    for next in next_holders(tx, item, a).map_err(db)? {
        store::resolve(tx, &next, now).map_err(db)?;
    }
    Ok(Plan { principal })
}

fn not_holder_or_proxy(a: &SignedAction) -> Verdict {
    match &a.acting_for {
        Some(p) => no(codes::NOT_HOLDER, format!("{p} does not hold this item now")),
        None => no(codes::NOT_HOLDER, "this item is not waiting for you now"),
    }
}

/// The signer's claim of acting for someone must match what the server resolved.
fn check_acting_for(signer: &Signer, a: &SignedAction, principal: &str) -> Result<(), Verdict> {
    let claimed = a.acting_for.as_deref().unwrap_or(&signer.user_id);
    if claimed == principal {
        return Ok(());
    }
    if principal == signer.user_id {
        return Err(no(codes::NOT_PROXY, "you hold this item yourself; sign without acting for anyone"));
    }
    Err(no(codes::NOT_PROXY, format!("you stand in for {principal} here, not for {claimed}")))
}

/// Why a signed version is no longer current: recalled, acted on by the same person
/// elsewhere (another device, or their proxy), or otherwise changed.
fn moved_on(tx: &Conn<'_>, signer: &Signer, item: &Item, a: &SignedAction) -> Result<Verdict, ApiError> {
    if a.version > item.version {
        return Ok(no(codes::VERSION_CHANGED, "this version does not exist"));
    }
    let next: Option<(String, String, Option<String>)> = tx
        .query_row(
            "SELECT action, actor, acting_for FROM approval_events WHERE item_id = ?1 AND version > ?2 ORDER BY version LIMIT 1",
            params![item.item_id, a.version],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let me = a.acting_for.as_deref().unwrap_or(&signer.user_id);
    Ok(match next {
        Some((action, ..)) if action == Action::Recall.as_str() => {
            no(codes::RECALLED, "the sender took this item back after you read it")
        }
        Some((_, actor, acting_for)) if actor == signer.user_id || actor == me || acting_for.as_deref() == Some(me) => {
            no(codes::ACTED_ELSEWHERE, "this was already acted on from another device or by a proxy")
        }
        _ => no(codes::VERSION_CHANGED, format!("the item changed since you read it (now version {})", item.version)),
    })
}

fn check_recall(tx: &Conn<'_>, signer: &Signer, item: &Item, a: &SignedAction, now: i64) -> Result<Plan, Verdict> {
    let db = |e: ApiError| no(e.code, e.message);
    let Some(sender) = item.sent_by.clone() else {
        return Err(no(codes::RECALL_CLOSED, "there is no send of yours to take back"));
    };
    let principal = match &a.acting_for {
        Some(p) if store::resolve(tx, p, now).map_err(db)? == signer.user_id => p.clone(),
        Some(p) => return Err(no(codes::NOT_PROXY, format!("you do not stand in for {p} now"))),
        None => signer.user_id.clone(),
    };
    if principal != sender {
        return Err(no(codes::RECALL_CLOSED, "only who sent it last can take it back"));
    }
    let acted: bool = tx
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM approval_cosigners WHERE item_id = ?1 AND done_at_ms IS NOT NULL \
             AND round = (SELECT max(round) FROM approval_cosigners WHERE item_id = ?1))",
            [&item.item_id],
            |r| r.get(0),
        )
        .map_err(|e| db(e.into()))?;
    if item.opened_at_ms.is_some() || (item.state == ItemState::Cosigning && acted) {
        return Err(no(codes::RECALL_CLOSED, "the next holder has already opened or acted on it"));
    }
    Ok(Plan { principal })
}

/// `Err(Ok(verdict))` refuses the co-signers; `Err(Err(e))` is a server fault.
fn check_cosigners(tx: &Conn<'_>, item: &Item, a: &SignedAction, principal: &str, new_round: bool) -> Result<(), Result<Verdict, ApiError>> {
    let bad = |m: String| Err(Ok(no(codes::BAD_COSIGNERS, m)));
    if a.cosigners.is_empty() || a.cosigners.len() > MAX_COSIGNERS {
        return bad(format!("choose 1 to {MAX_COSIGNERS} co-signers"));
    }
    if new_round && a.cosign_mode.is_none() {
        return bad("say whether co-signers sign in parallel or in sequence".into());
    }
    let mut seen = std::collections::HashSet::new();
    for c in &a.cosigners {
        if !seen.insert(c) || c == principal {
            return bad(format!("{c} is chosen twice or is yourself"));
        }
        if !store::person_exists(tx, c).map_err(Err)? {
            return bad(format!("{c} is not someone who can co-sign"));
        }
        if !new_round {
            let already: bool = tx
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM approval_cosigners WHERE item_id = ?1 AND user_id = ?2 \
                     AND round = (SELECT max(round) FROM approval_cosigners WHERE item_id = ?1))",
                    params![item.item_id, c],
                    |r| r.get(0),
                )
                .map_err(|e| Err(e.into()))?;
            if already {
                return bad(format!("{c} already co-signs this round"));
            }
        }
    }
    Ok(())
}

/// Who will hold the item once `a` is applied (for proxy resolution and history).
fn next_holders(tx: &Conn<'_>, item: &Item, a: &SignedAction) -> Result<Vec<String>, ApiError> {
    Ok(match a.action {
        Action::Forward => item.chain.get(item.step + 1).cloned().into_iter().collect(),
        Action::Return => {
            let to = if a.return_to == Some(ReturnTo::Drafter) { 0 } else { item.step.saturating_sub(1) };
            item.chain.get(to).cloned().into_iter().collect()
        }
        Action::RequestCosign => match a.cosign_mode {
            Some(CosignMode::Sequential) => a.cosigners.iter().take(1).cloned().collect(),
            _ => a.cosigners.clone(),
        },
        Action::Cosign => {
            let mut after = item.clone();
            after.state = ItemState::Cosigning;
            let mut p = store::principals(tx, &after)?;
            p.extend(a.cosigners.iter().cloned());
            p
        }
        Action::Recall => item.sent_by.clone().into_iter().collect(),
        Action::SaveDraft | Action::Approve => Vec::new(),
    })
}

/// Writes an accepted action: the routing change, a new version and change sequence,
/// the history row. Returns the new version (unchanged for a saved draft).
fn apply(tx: &Conn<'_>, signer: &Signer, item: &Item, a: &SignedAction, plan: Plan, sig: &[u8], now: i64) -> Result<i64, ApiError> {
    if a.action == Action::SaveDraft {
        tx.execute(
            "INSERT INTO approval_drafts (item_id, user_id, opinion, saved_at_ms) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (item_id, user_id) DO UPDATE SET opinion = excluded.opinion, saved_at_ms = excluded.saved_at_ms",
            params![item.item_id, signer.user_id, a.opinion, now],
        )?;
        return Ok(item.version);
    }
    let version = item.version + 1;
    let seq = store::next_seq(tx)?;
    let mut to = next_holders(tx, item, a)?;
    let last = item.chain.len().saturating_sub(1);
    let id = &item.item_id;
    match a.action {
        Action::Forward | Action::Return => {
            let step = match a.action {
                Action::Forward => (item.step + 1).min(last),
                _ if a.return_to == Some(ReturnTo::Drafter) => 0,
                _ => item.step.saturating_sub(1),
            };
            tx.execute(
                "UPDATE approval_items SET step = ?2, holder = ?3, sent_by = ?4, sent_step = ?5 WHERE item_id = ?1",
                params![id, step as i64, item.chain[step], plan.principal, item.step as i64],
            )?;
        }
        Action::RequestCosign => {
            for (pos, c) in a.cosigners.iter().enumerate() {
                tx.execute(
                    "INSERT INTO approval_cosigners (item_id, round, pos, user_id, added_by) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, version, pos as i64, c, plan.principal],
                )?;
            }
            let mode = a.cosign_mode.map_or("parallel", CosignMode::as_str);
            tx.execute(
                "UPDATE approval_items SET state = 'cosigning', cosign_mode = ?2, sent_by = ?3, sent_step = ?4 WHERE item_id = ?1",
                params![id, mode, plan.principal, item.step as i64],
            )?;
        }
        Action::Cosign => {
            tx.execute(
                "UPDATE approval_cosigners SET done_at_ms = ?3 WHERE item_id = ?1 AND user_id = ?2 \
                 AND round = (SELECT max(round) FROM approval_cosigners WHERE item_id = ?1)",
                params![id, plan.principal, now],
            )?;
            for c in &a.cosigners {
                // 加會: appended to the running round, after those already chosen.
                tx.execute(
                    "INSERT INTO approval_cosigners (item_id, round, pos, user_id, added_by) \
                     SELECT ?1, max(round), max(pos) + 1, ?2, ?3 FROM approval_cosigners WHERE item_id = ?1 \
                     AND round = (SELECT max(round) FROM approval_cosigners WHERE item_id = ?1)",
                    params![id, c, plan.principal],
                )?;
            }
            let pending: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM approval_cosigners WHERE item_id = ?1 AND done_at_ms IS NULL \
                 AND round = (SELECT max(round) FROM approval_cosigners WHERE item_id = ?1))",
                [id],
                |r| r.get(0),
            )?;
            // The last opinion sends the item back to who asked; co-sign opinions are not recalled.
            let state = if pending { "cosigning" } else { "routing" };
            tx.execute("UPDATE approval_items SET state = ?2, sent_by = NULL, sent_step = NULL WHERE item_id = ?1", params![id, state])?;
            let after = store::load(tx, id)?.ok_or_else(store::unknown_item)?;
            to = store::principals(tx, &after)?;
        }
        Action::Approve => {
            tx.execute("UPDATE approval_items SET state = 'decided', decided_at_ms = ?2, sent_by = NULL WHERE item_id = ?1", params![id, now])?;
        }
        Action::Recall => {
            let step = item.sent_step.unwrap_or(item.step);
            // An open co-sign round is withdrawn whole: its pending rows go.
            tx.execute(
                "DELETE FROM approval_cosigners WHERE item_id = ?1 AND done_at_ms IS NULL \
                 AND round = (SELECT max(round) FROM approval_cosigners WHERE item_id = ?1)",
                [id],
            )?;
            tx.execute(
                "UPDATE approval_items SET state = 'routing', step = ?2, holder = ?3, sent_by = NULL, sent_step = NULL WHERE item_id = ?1",
                params![id, step as i64, plan.principal],
            )?;
        }
        Action::SaveDraft => {}
    }
    tx.execute(
        "UPDATE approval_items SET version = ?2, seq = ?3, opened_at_ms = NULL WHERE item_id = ?1",
        params![id, version, seq],
    )?;
    tx.execute("DELETE FROM approval_drafts WHERE item_id = ?1 AND user_id = ?2", params![id, signer.user_id])?;
    let acting_for = (plan.principal != signer.user_id).then_some(plan.principal);
    let to = serde_json::to_string(&to).map_err(|e| ApiError::internal(e.to_string()))?;
    tx.execute(
        "INSERT INTO approval_events (item_id, version, action, actor, acting_for, device_id, opinion, to_users, at_ms, signed_at_ms, signature) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![id, version, a.action.as_str(), signer.user_id, acting_for, signer.device_id, a.opinion, to, now, a.time_ms, sig],
    )?;
    Ok(version)
}
