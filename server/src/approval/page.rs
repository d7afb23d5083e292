//! An item's history as an HTML page for the desk: every accepted step with who acted,
//! for whom (代), the opinion and where it went, then every refused or conflicting
//! attempt from a phone.

use crate::db::Conn;
use crate::params;
use taipei_protocol::attendance::{TAIPEI_OFFSET_MS, date_text};

use super::store;
use crate::error::ApiError;

pub use crate::web::escape_html as escape;

/// `YYYY-MM-DD HH:MM` in Taipei.
pub fn taipei_time(ms: i64) -> String {
    let local = ms + TAIPEI_OFFSET_MS;
    let minutes = local.rem_euclid(86_400_000) / 60_000;
    format!("{} {:02}:{:02}", date_text(local.div_euclid(86_400_000)), minutes / 60, minutes % 60)
}

fn name_of(conn: &Conn<'_>, user_id: &str) -> Result<String, ApiError> {
    let name: Option<String> = conn
        .query_row("SELECT display_name FROM approval_people WHERE user_id = ?1", [user_id], |r| r.get(0))
        .ok();
    Ok(name.unwrap_or_else(|| user_id.to_owned()))
}

/// Chinese names of the actions, as the history page shows them.
fn action_label(action: &str) -> &str {
    match action {
        "create" => "創稿陳核",
        "edit" => "修改",
        "forward" => "陳核",
        "request_cosign" => "陳會",
        "cosign" => "會辦",
        "approve" => "決行",
        "return" => "退回",
        "recall" => "取回",
        "save_draft" => "暫存",
        other => other,
    }
}

pub fn history(conn: &Conn<'_>, item_id: &str) -> Result<String, ApiError> {
    let item = store::load(conn, item_id)?.ok_or_else(store::unknown_item)?;
    let mut html = format!(
        "<!doctype html><html lang=\"zh-Hant\"><meta charset=\"utf-8\"><title>{0}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.3em .8em;border-bottom:1px solid #ccc;text-align:left}}</style>\
         <h1>{0}</h1><p>版本 {1} · {2} · 限辦 {3}{4}</p>\
         <h2>歷程</h2><table><tr><th>版本</th><th>時間</th><th>動作</th><th>人員</th><th>意見</th><th>送至</th></tr>",
        escape(&item.subject),
        item.version,
        store::state_str(item.state),
        taipei_time(item.due_at_ms),
        if item.classified { " · 機密" } else { "" },
    );
    let mut stmt = conn.prepare(
        "SELECT version, at_ms, action, actor, acting_for, opinion, to_users FROM approval_events WHERE item_id = ?1 ORDER BY version, id",
    )?;
    let rows = stmt.query_map([item_id], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, Option<String>>(4)?, r.get::<_, String>(5)?, r.get::<_, String>(6)?))
    })?;
    for row in rows {
        let (version, at, action, actor, acting_for, opinion, to) = row?;
        let mut who = escape(&name_of(conn, &actor)?);
        if let Some(p) = acting_for {
            who.push_str(&format!("（代 {}）", escape(&name_of(conn, &p)?)));
        }
        let to: Vec<String> = serde_json::from_str(&to).unwrap_or_default();
        let to = to.iter().map(|u| name_of(conn, u)).collect::<Result<Vec<_>, _>>()?.join("、");
        html.push_str(&format!(
            "<tr><td>{version}</td><td>{}</td><td>{}</td><td>{who}</td><td>{}</td><td>{}</td></tr>",
            taipei_time(at),
            action_label(&action),
            escape(&opinion),
            escape(&to)
        ));
    }
    html.push_str("</table><h2>未受理的動作</h2><table><tr><th>時間</th><th>動作</th><th>人員</th><th>結果</th></tr>");
    let mut stmt = conn.prepare(
        "SELECT at_ms, action, user_id, status, code FROM approval_verdicts WHERE item_id = ?1 AND status <> 'done' ORDER BY id",
    )?;
    let rows = stmt.query_map(params![item_id], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, Option<String>>(4)?))
    })?;
    for row in rows {
        let (at, action, user, status, code) = row?;
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td></tr>",
            taipei_time(at),
            action_label(&action),
            escape(&name_of(conn, &user)?),
            escape(&status),
            escape(code.as_deref().unwrap_or(""))
        ));
    }
    html.push_str("</table></html>");
    Ok(html)
}
