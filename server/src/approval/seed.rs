//! Demo data for `taipei demo`: a manager, the deputy who stands in for them, a section
//! chief, a clerk and an accountant; three documents (one classified) and a leave
//! request. Goes through the same functions as the back-office routes.

use taipei_protocol::approval::{FormField, Kind, LeaveDetails, NewItem, NewPerson, NewProxy, Urgency};
use taipei_protocol::b64;

use super::admin::{create_item, put_person, put_proxy};
use crate::db::Db;
use crate::error::ApiError;

/// The ids the demo binds phones for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demo {
    /// 陳處長, level 2: decides the documents.
    pub manager: String,
    /// 王副處長: stands in for the manager for the next 7 days.
    pub proxy: String,
    pub chief: String,
    pub clerk: String,
    pub accountant: String,
    pub items: Vec<String>,
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn person(user_id: &str, name: &str, title: &str, level: u8) -> NewPerson {
    NewPerson { user_id: user_id.into(), display_name: name.into(), title: title.into(), agency: "臺北市政府資訊局".into(), level }
}

fn item(kind: Kind, subject: &str, body: Option<&str>, urgency: Urgency, chain: &[&str]) -> NewItem {
    NewItem {
        kind,
        subject: subject.into(),
        body: body.map(|b| b64::encode(b.as_bytes())),
        body_type: "text/html".into(),
        attachments: Vec::new(),
        urgency,
        classified: false,
        agency: "臺北市政府資訊局".into(),
        decision_level: 2,
        chain: chain.iter().map(|s| (*s).to_owned()).collect(),
        leave: None,
        fields: Vec::new(),
        received_at_ms: None,
    }
}

/// Puts the demo people, the proxy and the items in place (a second call adds another
/// set of items; people and proxies are updated in place or added).
pub async fn demo(db: &Db, now_ms: i64) -> Result<Demo, ApiError> {
    db.write(move |tx| {
        for p in [
            person("demo-manager", "陳處長", "處長", 2),
            person("demo-deputy", "王副處長", "副處長", 3),
            person("demo-chief", "林科長", "科長", 4),
            person("demo-clerk", "李專員", "專員", 5),
            person("demo-accountant", "許主任", "會計室主任", 4),
        ] {
            put_person(tx, &p)?;
        }
        put_proxy(tx, &NewProxy { user_id: "demo-manager".into(), proxy_id: "demo-deputy".into(), from_ms: now_ms, until_ms: now_ms + 7 * DAY_MS })?;
        let chain = ["demo-clerk", "demo-chief", "demo-manager"];
        let wifi = item(Kind::Document, "函轉市府各機關公共區域無線網路擴充計畫", Some("<h1>主旨</h1><p>檢送本局公共區域無線網路擴充計畫一份，請查照。</p>"), Urgency::Urgent, &chain);
        let budget = item(Kind::Document, "115年度資訊設備採購預算簽辦", Some("<h1>簽</h1><p>擬請會計室表示意見後陳核。</p>"), Urgency::Most, &chain);
        let mut secret = item(Kind::Document, "資安事件調查報告", Some("<p>機密內容</p>"), Urgency::Normal, &chain);
        secret.classified = true;
        let mut leave = item(Kind::Leave, "李專員特休假申請", None, Urgency::Normal, &["demo-clerk", "demo-chief", "demo-manager"]);
        leave.leave = Some(LeaveDetails {
            leave_type: "特休".into(),
            from_ms: now_ms + 3 * DAY_MS,
            until_ms: now_ms + 4 * DAY_MS,
            hours: 8,
            cover_user_id: "demo-chief".into(),
        });
        let mut form = item(Kind::Form, "資訊設備借用申請", None, Urgency::Urgent, &chain);
        form.fields = vec![FormField { label: "設備".into(), value: "筆記型電腦 2 台".into() }, FormField { label: "用途".into(), value: "市民服務中心臨櫃".into() }];
        let mut items = Vec::new();
        for i in [wifi, budget, secret, leave, form] {
            items.push(create_item(tx, &i, now_ms)?.item_id);
        }
        Ok(Demo {
            manager: "demo-manager".into(),
            proxy: "demo-deputy".into(),
            chief: "demo-chief".into(),
            clerk: "demo-clerk".into(),
            accountant: "demo-accountant".into(),
            items,
        })
    })
    .await
}
