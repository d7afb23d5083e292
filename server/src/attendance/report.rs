//! The per-person weekly report: JSON for HR's systems and the phone, and a plain HTML
//! page for a person to read.

use crate::db::{Conn, OptionalExtension};
use crate::params;
use taipei_protocol::attendance::{DayPunch, DayReport, PunchKind, WeekReport, date_text, summarize_day, week_monday, workday};

use crate::error::ApiError;
use crate::web::escape_html as escape;

/// The week (Monday to Sunday, Taipei) holding `at_ms`, from the accepted punches.
pub fn week(conn: &Conn<'_>, user_id: &str, at_ms: i64) -> Result<WeekReport, ApiError> {
    let display_name: String = conn
        .query_row("SELECT display_name FROM users WHERE user_id = ?1", [user_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| ApiError::not_found("no such user"))?;
    let monday = week_monday(workday(at_ms, 0));
    let mut stmt = conn.prepare(
        "SELECT workday, kind, time_ms, manual, late FROM attendance_punches \
         WHERE user_id = ?1 AND workday >= ?2 AND workday < ?3 ORDER BY time_ms",
    )?;
    let rows = stmt
        .query_map(params![user_id, monday, monday + 7], |r| {
            let kind = PunchKind::parse(&r.get::<_, String>(1)?).unwrap_or(PunchKind::In);
            Ok((r.get::<_, i64>(0)?, DayPunch { kind, time_ms: r.get(2)?, manual: r.get(3)?, late: r.get(4)? }))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let days: Vec<DayReport> = (monday..monday + 7)
        .map(|day| {
            let punches: Vec<DayPunch> = rows.iter().filter(|(d, _)| *d == day).map(|(_, p)| *p).collect();
            summarize_day(day, &punches)
        })
        .collect();
    Ok(WeekReport {
        user_id: user_id.to_owned(),
        display_name,
        week_of: date_text(monday),
        worked_ms: days.iter().fold(0_i64, |sum, d| sum.saturating_add(d.worked_ms)),
        days,
    })
}

/// `HH:MM` in Taipei.
fn clock(ms: Option<i64>) -> String {
    ms.map_or_else(
        || "—".to_owned(),
        |ms| {
            let minutes = (ms + taipei_protocol::attendance::TAIPEI_OFFSET_MS).rem_euclid(86_400_000) / 60_000;
            format!("{:02}:{:02}", minutes / 60, minutes % 60)
        },
    )
}

fn hours(ms: i64) -> String {
    format!("{}:{:02}", ms / 3_600_000, (ms % 3_600_000) / 60_000)
}

pub fn html(report: &WeekReport) -> String {
    let mut rows = String::new();
    for d in &report.days {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            d.date,
            clock(d.first_in_ms),
            clock(d.last_out_ms),
            hours(d.worked_ms),
            escape(&d.flags.join(", "))
        ));
    }
    format!(
        "<!doctype html>\n<html lang=\"zh-Hant\"><head><meta charset=\"utf-8\"><title>出勤 {name} {week}</title>\
         <style>body{{font-family:sans-serif}}td,th{{padding:4px 12px;border-bottom:1px solid #ccc}}</style></head>\n\
         <body><h1>{name} — week of {week}</h1>\n<table><tr><th>date</th><th>first in</th><th>last out</th><th>hours</th><th>flags</th></tr>\n\
         {rows}</table><p>total {total} (Asia/Taipei)</p></body></html>\n",
        name = escape(&report.display_name),
        week = report.week_of,
        total = hours(report.worked_ms),
    )
}
