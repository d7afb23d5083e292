//! `taipei demo`: the guided tour. It starts the reference server in-process, plays the
//! city portal, and walks one phone through the foundation — scan the binding QR, bind
//! the device key, sign in, file a report through the durable outbox, sync — then a
//! QR-key login into a web system, a meeting sign-in, a beacon clock-in/out and a diploma
//! in the certificate wallet (issued, shown, verified from its QR picture, revoked), mobile
//! approval (a chief sends documents on, the director approves one and returns one, a
//! deputy approves for the absent director), a new document arriving as a Web Push
//! (badge 1; opening it clears the badge), printing
//! what a phone would show at each step. Everything is real: HTTP on loopback, a SQLite
//! file in a temp folder, P-256 signatures, the QR engine decoding a rendered PNG.

use std::sync::Arc;
use std::time::Instant;

use taipei_core::qr::{self, RenderOptions};
use taipei_core::{Client, ClientConfig, Event, EventListener, FileSecretStore, Platform};

use taipei_protocol::attendance::{Level, NewBeacon, NewOffice, PresenceParams};
use taipei_protocol::meeting::NewMeeting;

use crate::browser::{SignInPage, room_display};
use crate::{portal, runtime};

/// The commands this module adds to `taipei`.
#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// Run the guided demo against an embedded reference server
    Demo {
        /// Keep the demo's files (server database, phone profile) instead of deleting them
        #[arg(long)]
        keep: bool,
    },
}

/// Prints the core's events as they arrive, as the app's UI would react to them.
struct PrintEvents;

impl EventListener for PrintEvents {
    fn on_event(&self, event: Event) {
        println!("      · event: {event:?}");
    }
}

pub fn run(args: Args) -> Result<(), String> {
    let Args::Demo { keep } = args;
    let dir = tempfile::Builder::new().prefix("taipei-demo-").tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let result = runtime()?.block_on(tour(dir.path()));
    if keep {
        let kept = dir.keep();
        println!("\nkept the demo's files in {}", kept.display());
    }
    result
}

fn step(n: u32, title: &str) {
    println!("\n[{n}] {title}");
}

fn ms(since: Instant) -> String {
    format!("{:.1} ms", since.elapsed().as_secs_f64() * 1e3)
}

/// The QR as a phone screen or a portal page would show it, in half-block characters.
fn print_qr(text: &str) -> Result<(), String> {
    let options = RenderOptions { quiet_zone: 2, ..RenderOptions::default() };
    let m = qr::render::matrix(text, &options).map_err(|e| e.to_string())?;
    for y in (0..m.width).step_by(2) {
        let line: String = (0..m.width)
            .map(|x| match (m.is_dark(x, y), m.is_dark(x, y + 1)) {
                (false, false) => '█',
                (false, true) => '▀',
                (true, false) => '▄',
                (true, true) => ' ',
            })
            .collect();
        println!("      {line}");
    }
    println!("      (QR version {}, {} characters)", m.version, text.len());
    Ok(())
}

/// The phone's camera on a rendered code: PNG through the QR engine, as from a frame.
fn scan_png(text: &str) -> Result<String, String> {
    let png = qr::render::png(text, &RenderOptions::default()).map_err(|e| e.to_string())?;
    let codes = qr::decode_image(&png).map_err(|e| format!("scan: {e}"))?;
    codes.into_iter().next().map(|c| c.text).ok_or_else(|| "the scan found no code".into())
}

async fn wallet_tour(client: &Client, url: &str, admin_token: &str) -> Result<(), String> {
    use taipei_protocol::cert::city::{Field, Text};
    let diploma = taipei_protocol::wallet::NewCertificate {
        user_id: "A123456789".into(),
        issuer: "TPE-EDU".into(),
        cert_type: "diploma".into(),
        holder_name: "陳小明".into(),
        title: Text::new("高級中等學校畢業證書", "Senior High School Diploma"),
        fields: vec![
            Field { label: Text::new("學校", "School"), value: "臺北市立建國高級中學".into() },
            Field { label: Text::new("畢業日期", "Graduated"), value: "2024-06-15".into() },
        ],
        expires_at_ms: None,
        document_sha256: None,
    };
    // The school's system holds an issuer credential for its own agency only.
    let school = portal::mint_credential(url, admin_token, "issuer", Some(&diploma.issuer)).await?;
    let issued = portal::issue_certificate(url, &school.token, &diploma).await?;
    let wallet = client.wallet();
    let t = Instant::now();
    let synced = wallet.sync().await.map_err(|e| e.to_string())?;
    println!("      the wallet synced: {} new certificate(s), signed lists as of {} — {}", synced.added, crate::wallet::when(synced.trust_list_as_of_ms), ms(t));
    let card = wallet.show(&issued.id).await.map_err(|e| e.to_string())?;
    crate::wallet::print_item(&card.item);
    print_qr(&card.item.qr)?;
    let png = wallet.qr_png(&issued.id, 8).await.map_err(|e| e.to_string())?;
    let t = Instant::now();
    let verdict = wallet.verify_image(&png).await.map_err(|e| e.to_string())?;
    println!("      a verifier scans the printed QR (PNG through the QR engine, then verify) — {}", ms(t));
    crate::wallet::print_verdict(&verdict);
    portal::revoke_certificate(url, &school.token, &issued.id).await?;
    println!("      the school revokes the diploma; the verifier's next list refresh sees it:");
    wallet.sync().await.map_err(|e| e.to_string())?;
    let verdict = wallet.verify_image(&png).await.map_err(|e| e.to_string())?;
    crate::wallet::print_verdict(&verdict);
    if verdict.kind != taipei_core::wallet::VerdictKind::Revoked {
        return Err(format!("a revoked diploma verified as {}", verdict.kind.code()));
    }
    Ok(())
}

async fn tour(dir: &std::path::Path) -> Result<(), String> {
    println!("Taipei City app core — demo (all local: loopback HTTP, files in {})", dir.display());

    step(1, "The reference server starts (embedded, loopback)");
    let server = taipei_server::start(taipei_server::ServerConfig::embedded(dir.join("server.db")))
        .await
        .map_err(|e| format!("server: {e}"))?;
    let url = server.base_url();
    println!("      listening at {url}; OpenAPI at {url}/v1/openapi.json");

    step(2, "At the city portal, 陳小明 proves who they are and asks to bind a phone");
    // The portal calls with a credential of its own kind, not the admin token.
    let portal_system = portal::mint_credential(&url, server.admin_token(), "portal", None).await?;
    let offer = portal::offer_binding(&url, &portal_system.token, "A123456789", "陳○明").await?;
    println!("      the portal shows this binding QR (valid for 2 minutes):");
    print_qr(&offer.qr)?;

    step(3, "The phone's camera scans it (the QR engine decodes the rendered image)");
    let png = qr::render::png(&offer.qr, &RenderOptions::default()).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let codes = qr::decode_image(&png).map_err(|e| format!("scan: {e}"))?;
    let scanned = codes.first().map(|c| c.text.clone()).ok_or("the scan found no code")?;
    println!("      decoded {} characters in {}; matches the portal's: {}", scanned.len(), ms(t), scanned == offer.qr);

    step(4, "The app opens its profile (one SQLite file, sealed secrets)");
    let mut config = ClientConfig::new(dir.join("phone"), "demo", &url, "demo phone (CLI)");
    config.sync_interval_secs = 0;
    config.wallet_root_key = Some(portal::root_key(&url).await?);
    let platform = Platform {
        signer: None,
        secret_store: Arc::new(FileSecretStore::new(dir.join("phone-secrets")).map_err(|e| e.to_string())?),
        listener: Some(Arc::new(PrintEvents)),
        clock: None,
    };
    let t = Instant::now();
    let client = Client::open(config, platform).await.map_err(|e| e.to_string())?;
    println!("      opened in {}", ms(t));

    step(5, "The phone binds its device key to 陳小明 (signed with the new key)");
    let t = Instant::now();
    let device = client.bind_device(&scanned).await.map_err(|e| e.to_string())?;
    println!(
        "      device {} bound to {} ({}), key assurance: {} — {}",
        device.device_id,
        device.user_id,
        device.display_name,
        device.assurance.as_str(),
        ms(t)
    );

    step(6, "The phone signs in: a short-lived token bound to the device key (DPoP)");
    let t = Instant::now();
    let session = client.sign_in().await.map_err(|e| e.to_string())?;
    let minutes = (session.expires_at_ms - client.server_now_ms() + 30_000) / 60_000;
    println!("      signed in for about {minutes} minutes — {}", ms(t));
    let me = client.me().await.map_err(|e| e.to_string())?;
    println!("      the server says: you are {} ({}) on device {}", me.display_name, me.user_id, me.device_id);

    step(7, "Offline-safe: a report goes to the durable outbox first, then syncs");
    client.report("feedback", "The demo works on my machine.").await.map_err(|e| e.to_string())?;
    let status = client.outbox().await.map_err(|e| e.to_string())?;
    println!("      outbox: {} waiting, {} dead", status.pending, status.dead);
    let t = Instant::now();
    let sync = client.sync().await.map_err(|e| e.to_string())?;
    println!("      synced: {} sent, {} failed, {} still waiting — {}", sync.sent, sync.failed, sync.pending, ms(t));
    let reports = client.reports().await.map_err(|e| e.to_string())?;
    println!("      the server holds {} report(s) from this user", reports.len());

    step(8, "At a city web system's sign-in page, the browser shows a login QR (no password)");
    let mut page = SignInPage::open(&url, "doc").await?;
    let shown = page.status().await?;
    let frame = shown.frame.ok_or("the sign-in page shows no code")?;
    println!("      the page shows this QR (it changes every 30 s):");
    print_qr(&frame)?;

    step(9, "The phone scans it and shows who is asking — from its own server, not from the QR");
    let t_scan = Instant::now();
    let scanned = scan_png(&frame)?;
    let prompt = client.login().scan(&scanned).await.map_err(|e| e.to_string())?;
    crate::login::print_prompt(&prompt);
    let number = page.status().await?.number.ok_or("the browser shows no number after the scan")?;
    println!("      meanwhile the browser shows the number {number} (never the person's name)");

    step(10, "The person types the number on the browser's screen, then confirms the account in the browser");
    let outcome = client.login().approve(&prompt, &number).await.map_err(|e| e.to_string())?;
    let (account, confirm) = page.account_to_confirm().await?;
    println!("      the browser asks: enter the account of {account}? — the person clicks Continue");
    let who = page.redeem(&confirm).await?;
    println!("      phone: {} · browser: signed in to {} as {} — {} from scan to signed in", outcome.state, who.system, who.display_name, ms(t_scan));
    let history = client.login().history().await.map_err(|e| e.to_string())?;
    println!("      the phone's login history: {} entry, last one {}", history.len(), history.first().map_or("-", |h| h.state.as_str()));

    step(11, "A meeting room's display shows a QR that changes every 10 s; one tap signs in");
    let now = client.server_now_ms();
    let organizer = portal::mint_credential(&url, server.admin_token(), "organizer", None).await?;
    let meeting = portal::create_meeting(&url, &organizer.token, &NewMeeting {
        title: "市政會議 City council".into(),
        room: "市府 8F 801".into(),
        organizer: "秘書處".into(),
        starts_at_ms: now - 5 * 60_000,
        ends_at_ms: now + 60 * 60_000,
        invitees: vec!["A123456789".into()],
        late_window_ms: None,
    })
    .await?;
    let display = room_display(&url, &meeting).await?;
    println!("      the display ({}) shows {}, roster: {} signed in", meeting.display_path, display.title, display.roster.len());
    let t = Instant::now();
    let scanned = scan_png(&display.frame)?;
    let info = client.meetings().scan(&scanned).await.map_err(|e| e.to_string())?;
    println!("      the phone shows: {} — room {}, by {}", info.title, info.room, info.organizer);
    let signed = client.meetings().sign_in(&scanned).await.map_err(|e| e.to_string())?;
    println!("      {signed:?} — {}", ms(t));
    let roster = room_display(&url, &meeting).await?.roster;
    println!("      the display's roster now: {}", roster.iter().map(|r| r.display_name.as_str()).collect::<Vec<_>>().join(", "));
    match client.meetings().sign_in(&scanned).await {
        Err(e) => println!("      scanning again: [{}] {e}", e.code()),
        Ok(o) => return Err(format!("a second sign-in was accepted: {o:?}")),
    }

    step(12, "Walking into the office clocks in; walking out clocks out (BLE beacon, rotating EID)");
    attendance_tour(&client, &url, server.admin_token()).await?;

    step(13, "The Department of Education issues a diploma into the wallet; anyone can verify its QR offline");
    wallet_tour(&client, &url, server.admin_token()).await?;

    step(14, "Mobile approval: a section chief sends documents on, the director approves one and returns one, a deputy approves for the absent director");
    let demo = approval_tour(dir, &url, &portal_system.token).await?;

    step(15, "A new document arrives as a push: the badge shows 1, opening it clears the badge");
    push_tour(dir, &url, server.admin_token(), &portal_system.token, &demo).await?;

    step(16, "The phone is lost: the portal revokes it, and every session it opened ends");
    portal::revoke_device(&url, server.admin_token(), &device.device_id).await?;
    match client.me().await {
        Err(e) => println!("      the next call fails as the app would show it: [{}] {e}", e.code()),
        Ok(_) => return Err("a revoked device was still served".into()),
    }

    client.close().await.map_err(|e| e.to_string())?;
    server.shutdown().await;
    println!("\nDemo finished: every step above ran against the real reference server.");
    Ok(())
}

/// A phone of `user_id` (its own profile beside the demo's), bound through the portal.
async fn staff_phone(dir: &std::path::Path, url: &str, portal_token: &str, user_id: &str, name: &str) -> Result<Client, String> {
    let mut config = ClientConfig::new(dir.join("phone"), user_id, url, &format!("{name}'s phone"));
    config.sync_interval_secs = 0;
    let platform = Platform {
        signer: None,
        secret_store: Arc::new(FileSecretStore::new(dir.join("phone-secrets")).map_err(|e| e.to_string())?),
        listener: None,
        clock: None,
    };
    let client = Client::open(config, platform).await.map_err(|e| e.to_string())?;
    let offer = portal::offer_binding(url, portal_token, user_id, name).await?;
    client.bind_device(&offer.qr).await.map_err(|e| e.to_string())?;
    Ok(client)
}

/// The agency's document system files the demo items (`seed::demo`, through the same
/// functions as its back-office routes); three staff phones act on them.
async fn approval_tour(dir: &std::path::Path, url: &str, portal_token: &str) -> Result<taipei_server::approval::seed::Demo, String> {
    use taipei_core::approval::{ActRequest, InboxFilter};
    use taipei_protocol::approval::{Action, ReturnTo};
    use crate::phone::fail as e;
    let db = taipei_server::db::Db::open(&dir.join("server.db")).map_err(|e| e.to_string())?;
    let demo = taipei_server::approval::seed::demo(&db, taipei_server::time::now_ms()).await.map_err(|e| e.to_string())?;
    let (wifi, budget, form) = (&demo.items[0], &demo.items[1], &demo.items[4]);
    println!("      the document system filed {} items; 王副處長 stands in for 陳處長 this week", demo.items.len());

    let chief = staff_phone(dir, url, portal_token, &demo.chief, "林科長").await?;
    chief.approvals().sync_inbox().await.map_err(e)?;
    println!("      林科長's inbox (a classified item only says: open it at your desk):");
    crate::approvals::print_inbox(&chief.approvals().inbox(InboxFilter::default()).await.map_err(e)?);
    for id in [wifi, budget, form] {
        chief.approvals().open(id).await.map_err(e)?;
    }
    let forward = [wifi, budget, form].map(|id| ActRequest::new(id, Action::Forward, "陳核"));
    println!("      林科長 sends three on (陳核) in one batch:");
    crate::approvals::act(&chief, forward.to_vec()).await.map_err(e)?;
    chief.close().await.map_err(e)?;

    let manager = staff_phone(dir, url, portal_token, &demo.manager, "陳處長").await?;
    let approvals = manager.approvals();
    approvals.sync_inbox().await.map_err(e)?;
    println!("      陳處長's inbox, due first:");
    crate::approvals::print_inbox(&approvals.inbox(InboxFilter::default()).await.map_err(e)?);
    let t = Instant::now();
    crate::approvals::print_item(&approvals.open(wifi).await.map_err(e)?);
    println!("      (read and kept for offline reading in {})", ms(t));
    let t = Instant::now();
    crate::approvals::print_record(&approvals.act(ActRequest::new(wifi, Action::Approve, "如擬")).await.map_err(e)?);
    println!("      決行 signed, queued and answered in {}", ms(t));
    approvals.open(budget).await.map_err(e)?;
    let mut back = ActRequest::new(budget, Action::Return, "請先會會計室表示意見後再陳");
    back.return_to = Some(ReturnTo::Previous);
    crate::approvals::print_record(&approvals.act(back).await.map_err(e)?);
    manager.close().await.map_err(e)?;

    let deputy = staff_phone(dir, url, portal_token, &demo.proxy, "王副處長").await?;
    deputy.approvals().sync_inbox().await.map_err(e)?;
    println!("      王副處長's inbox shows what waits for the absent director (代):");
    crate::approvals::print_inbox(&deputy.approvals().inbox(InboxFilter::default()).await.map_err(e)?);
    deputy.approvals().open(form).await.map_err(e)?;
    crate::approvals::print_record(&deputy.approvals().act(ActRequest::new(form, Action::Approve, "代為決行：同意借用")).await.map_err(e)?);
    let history = deputy.approvals().open(form).await.map_err(e)?.detail.history;
    if let Some(last) = history.last() {
        println!("      the history shows both: {} 代 {}", last.actor, last.acting_for.as_deref().unwrap_or("?"));
    }
    deputy.close().await.map_err(e)?;
    Ok(demo)
}

/// 許主任's phone registers for Web Push with the demo's push service; the document
/// system files a new item, drafted by 李專員, that waits for 許主任 next; the reference server's sender seals it
/// to the phone's key (RFC 8291) and posts it with VAPID (RFC 8030/8292); the phone
/// takes the body in as the OS hands it over, shows it with badge 1, and opening it
/// clears the badge here and, through the server, on the person's other devices.
async fn push_tour(dir: &std::path::Path, url: &str, admin_token: &str, portal_token: &str, demo: &taipei_server::approval::seed::Demo) -> Result<(), String> {
    use taipei_core::push::{PushPlatform, PushRoute};
    use taipei_protocol::approval::{Kind, NewItem, Urgency};
    use crate::phone::fail as e;
    let mut service = crate::push_service::DemoPushService::start().await?;
    let phone = staff_phone(dir, url, portal_token, &demo.accountant, "許主任").await?;
    let push = phone.push();
    let registration = push.register(PushPlatform::WebPush, &service.endpoint()).await.map_err(e)?;
    println!(
        "      許主任's phone registers {} with its push keys (P-256, auth secret sealed); renewed after {}",
        service.endpoint(),
        crate::login::taipei_time(registration.reverify_after_ms)
    );
    let item = NewItem {
        kind: Kind::Document,
        subject: "市民服務中心臨櫃延長服務時間所需加班費".into(),
        body: Some(taipei_protocol::b64::encode("<h1>簽</h1><p>擬自下月起週三延長服務至晚間八時，所需加班費請會計室表示意見。</p>".as_bytes())),
        body_type: "text/html".into(),
        attachments: Vec::new(),
        urgency: Urgency::Normal,
        classified: false,
        agency: "臺北市政府資訊局".into(),
        decision_level: 2,
        // The drafter first; the item then waits for the next desk.
        chain: vec![demo.clerk.clone(), demo.accountant.clone(), demo.manager.clone()],
        leave: None,
        fields: Vec::new(),
        received_at_ms: None,
    };
    let t = Instant::now();
    let created = crate::portal::file_approval_item(url, admin_token, &item).await?;
    let body = service.next(std::time::Duration::from_secs(20)).await?;
    println!("      the document system files {}; the server's sender posts {} encrypted bytes (aes128gcm, VAPID checked by the push service)", created.item_id, body.len());
    let received = push.receive(body).await.map_err(e)?;
    crate::push::print_received(&received);
    println!("      from filing to the phone's notification: {}", ms(t));
    if received.badge != 1 {
        return Err(format!("the badge shows {} after one new document", received.badge));
    }
    print!("{}", crate::dashboard::text(&phone.dashboard().get(3).await.map_err(e)?));
    let message = received.message.ok_or("a new message was not kept")?;

    push.tapped(&message.id).await.map_err(e)?;
    let route = push.take_pending_route().await.map_err(e)?.ok_or("the tapped route was not kept")?;
    let PushRoute::ApprovalItem { item_id } = route.target else {
        return Err(format!("the push leads to {:?}, not the document", route.target));
    };
    println!("      the person taps it; when the UI is ready it goes to {}", route.route);
    phone.approvals().sync_inbox().await.map_err(e)?;
    crate::approvals::print_item(&phone.approvals().open(&item_id).await.map_err(e)?);
    let badge = push.badge().await.map_err(e)?;
    let synced = push.sync().await.map_err(e)?;
    println!("      opened: badge {badge}; the read mark reached the server ({} sent), so the person's other devices clear it too", synced.reads_sent);
    if badge != 0 || synced.badge != 0 {
        return Err(format!("the badge shows {badge} after opening the only message"));
    }
    phone.close().await.map_err(e)?;
    Ok(())
}

/// HR registers an office with an Eddystone-EID beacon (the key stays on the server);
/// the phone fetches the EIDs of the next hours and walks in and out.
async fn attendance_tour(client: &Client, url: &str, admin_token: &str) -> Result<(), String> {
    let office = NewOffice {
        office_id: "taipei-city-hall-8f".into(),
        name: "市府 8F".into(),
        level: Level::Eid,
        presence: PresenceParams::default(),
        min_interval_ms: 60_000,
        day_start_min: 0,
        networks: Vec::new(),
        geofence: None,
    };
    // The identity key of Eddystone-EID's published test vector; epoch: an hour ago.
    let beacon = NewBeacon::Eid {
        identity_key: "0102030405060708090a111213141516".into(),
        rotation_exponent: 10,
        epoch_ms: client.server_now_ms() - 3_600_000,
    };
    // HR's system holds a credential of its own: offices, beacons, who works where.
    let hr = portal::mint_credential(url, admin_token, "hr", None).await?;
    portal::create_office(url, &hr.token, &office, &beacon).await?;
    let me = client.me().await.map_err(|e| e.to_string())?;
    portal::assign_to_office(url, &hr.token, &office.office_id, &me.user_id).await?;
    println!("      HR assigned {} to {} with its own credential (only assigned staff get the rotating ids)", me.display_name, office.name);
    let config = client.attendance().load_office(&office.office_id).await.map_err(|e| e.to_string())?;
    println!("      the phone holds {} EIDs valid for the next hours (no key), office level: {:?}", config.eids.len(), config.level);
    for walk in [crate::attendance::Walk::In, crate::attendance::Walk::Out] {
        let t = Instant::now();
        let punches = crate::attendance::simulate_walk(client, walk).await.map_err(|e| e.to_string())?;
        println!("      walked {walk:?}: {} punch(es) recorded offline-first — {}", punches.len(), ms(t));
        crate::attendance::sync_and_show(client, &punches).await.map_err(|e| e.to_string())?;
    }
    let week = client.attendance().week(client.server_now_ms()).await.map_err(|e| e.to_string())?;
    crate::attendance::print_week(&week);
    Ok(())
}
