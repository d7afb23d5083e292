//! `taipei attendance`: beacon attendance from the command-line phone — simulated walks
//! through generated advert streams, a real BLE scan (feature `ble`), manual punches and
//! the week's history from the phone's store.

use taipei_core::attendance::{PunchRecord, WeekView, simulate};
use taipei_core::{Client, PunchKind};

use crate::login::taipei_time;
use crate::phone::{Phone, with_client};

/// The commands this module adds to `taipei`.
#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// Beacon attendance: simulated walks, manual punches, the week, a real BLE scan
    #[command(subcommand)]
    Attendance(Attendance),
}

#[derive(Debug, clap::Subcommand)]
pub enum Attendance {
    /// Walk into / out of the office (a generated advert stream through the real presence engine); syncs
    Simulate {
        /// The office, as HR registered it
        #[arg(long, value_name = "ID")]
        office: String,
        /// Which way to walk
        #[arg(long, value_enum, value_name = "in|out")]
        walk: Walk,
        #[command(flatten)]
        phone: Phone,
    },
    /// A punch without a beacon, flagged for review; syncs
    Manual {
        /// The office to load first (else the one the phone holds)
        #[arg(long, value_name = "ID")]
        office: Option<String>,
        /// Clocking in or out
        #[arg(long, value_name = "in|out", value_parser = kind_of)]
        kind: PunchKind,
        /// Why there was no beacon
        #[arg(long, value_name = "TEXT")]
        reason: String,
        #[command(flatten)]
        phone: Phone,
    },
    /// The week's punches from the phone's store (offline)
    Week {
        /// A time in the week to show, UTC milliseconds (default: now by the server's clock)
        #[arg(long, value_name = "MS", allow_negative_numbers = true)]
        at_ms: Option<i64>,
        #[command(flatten)]
        phone: Phone,
    },
    /// Scan real BLE adverts with btleplug (built with `--features ble`)
    Scan {
        /// The office, as HR registered it
        #[arg(long, value_name = "ID")]
        office: String,
        /// How long to scan
        #[arg(long, value_name = "N", default_value_t = 60)]
        seconds: u64,
        #[command(flatten)]
        phone: Phone,
    },
}

pub fn run(args: Args) -> Result<(), String> {
    let Args::Attendance(command) = args;
    match command {
        Attendance::Simulate { office, walk, phone } => with_client(&phone, |client| async move {
            client.attendance().load_office(&office).await?;
            let punches = simulate_walk(&client, walk).await?;
            if punches.is_empty() {
                println!("      no punch: the rules recorded nothing for this walk (first in, last out, minimum interval)");
            }
            sync_and_show(&client, &punches).await
        }),
        Attendance::Manual { office, kind, reason, phone } => with_client(&phone, |client| async move {
            if let Some(office) = office {
                client.attendance().load_office(&office).await?;
            }
            let punch = client.attendance().manual_punch(kind, &reason).await?;
            sync_and_show(&client, &[punch]).await
        }),
        Attendance::Week { at_ms, phone } => with_client(&phone, |client| async move {
            let at = at_ms.unwrap_or_else(|| client.server_now_ms());
            print_week(&client.attendance().week(at).await?);
            Ok(())
        }),
        Attendance::Scan { office, seconds, phone } => scan(&phone, office, seconds),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Walk {
    In,
    Out,
}

/// Feeds a generated walk to the phone as a scanner would; returns the punches it made.
/// Walking out starts at the desk, so a fresh process knows the person was inside.
pub async fn simulate_walk(client: &Client, walk: Walk) -> Result<Vec<PunchRecord>, taipei_core::Error> {
    let attendance = client.attendance();
    let config = attendance.office().await?.ok_or(taipei_core::Error::Attendance(taipei_core::attendance::AttendanceError::NoOffice))?;
    let advert = simulate::office_advert(&config, client.server_now_ms())
        .ok_or_else(|| taipei_core::Error::InvalidInput(format!("office {} has no beacon to simulate", config.office_id)))?;
    // Sighting times are the phone's own running clock; only differences matter.
    let start = taipei_core::net::clock::local_now_ms();
    let mut stream = simulate::walk_in(&advert, start, 60);
    if walk == Walk::Out {
        stream.extend(simulate::walk_out(&advert, start + 60_000, 30));
    }
    let mut punches = Vec::new();
    let last = stream.last().map_or(start, |s| s.at_ms);
    for sighting in stream {
        punches.extend(attendance.sighting(sighting).await?);
    }
    if walk == Walk::Out {
        punches.extend(attendance.tick(last + config.presence.exit_timeout_ms).await?);
    }
    Ok(punches)
}

pub fn print_punch(p: &PunchRecord) {
    let manual = p.manual_reason.as_deref().map(|r| format!(" (manual: {r})")).unwrap_or_default();
    let reason = p.reason.as_deref().map(|r| format!(" — {r}")).unwrap_or_default();
    println!("      {:<3} {}  {:<8}{manual}{reason}", p.kind.as_str(), taipei_time(p.time_ms), p.state);
}

pub fn print_week(week: &WeekView) {
    println!("      week of {} — {:.1} h", week.week_of, week.worked_ms as f64 / 3_600_000.0);
    for d in week.days.iter().filter(|d| !d.punches.is_empty()) {
        let t = |ms: Option<i64>| ms.map_or_else(|| "--:--:--".to_owned(), taipei_time);
        println!(
            "      {}  in {}  out {}  {:>5.2} h  [{}] {}",
            d.summary.date,
            t(d.summary.first_in_ms),
            t(d.summary.last_out_ms),
            d.summary.worked_ms as f64 / 3_600_000.0,
            d.sync,
            d.summary.flags.join(",")
        );
        for p in &d.punches {
            print!("  ");
            print_punch(p);
        }
    }
}

/// Sends what is queued and shows each punch's verdict.
pub async fn sync_and_show(client: &Client, punches: &[PunchRecord]) -> Result<(), taipei_core::Error> {
    if let Err(e) = client.sync().await {
        println!("      not sent yet ({}): kept on the phone", e.code());
    }
    for p in punches {
        if let Some(now) = client.attendance().punch(&p.punch_id).await? {
            print_punch(&now);
        }
    }
    Ok(())
}

fn kind_of(text: &str) -> Result<PunchKind, String> {
    PunchKind::parse(text).ok_or_else(|| "a punch is `in` or `out`".to_owned())
}

#[cfg(not(feature = "ble"))]
fn scan(_phone: &Phone, _office: String, _seconds: u64) -> Result<(), String> {
    Err("this taipei was built without BLE; rebuild with `cargo build -p taipei-cli --features ble`".into())
}

/// Real adverts from the machine's radio through btleplug (BlueZ over D-Bus on Linux).
#[cfg(feature = "ble")]
fn scan(phone: &Phone, office: String, seconds: u64) -> Result<(), String> {
    use btleplug::api::{Central as _, CentralEvent, Manager as _, Peripheral as _, ScanFilter};
    use futures::StreamExt as _;
    use taipei_core::attendance::{AdvertData, Sighting};

    with_client(phone, |client| async move {
        let ble = |e: btleplug::Error| taipei_core::Error::Config(format!("BLE: {e}"));
        client.attendance().load_office(&office).await.map_err(taipei_core::Error::from)?;
        let manager = btleplug::platform::Manager::new().await.map_err(ble)?;
        let adapter = manager.adapters().await.map_err(ble)?.into_iter().next().ok_or_else(|| taipei_core::Error::Config("no Bluetooth adapter".into()))?;
        let mut events = adapter.events().await.map_err(ble)?;
        adapter.start_scan(ScanFilter::default()).await.map_err(ble)?;
        println!("      scanning for {seconds} s…");
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
        let mut punches = Vec::new();
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.next()).await {
            let (id, data) = match event {
                CentralEvent::ManufacturerDataAdvertisement { id, manufacturer_data } => {
                    (id, manufacturer_data.into_iter().map(|(company, data)| AdvertData::Manufacturer { company, data }).collect::<Vec<_>>())
                }
                CentralEvent::ServiceDataAdvertisement { id, service_data } => {
                    // 16-bit UUIDs sit in the Bluetooth base UUID: 0000xxxx-0000-1000-8000-00805f9b34fb.
                    const BASE_LOW: u128 = 0x0000_1000_8000_0080_5f9b_34fb;
                    let data = service_data
                        .into_iter()
                        .filter(|(uuid, _)| uuid.as_u128() & ((1 << 96) - 1) == BASE_LOW)
                        .filter_map(|(uuid, data)| u16::try_from(uuid.as_u128() >> 96).ok().map(|uuid16| AdvertData::Service { uuid16, data }))
                        .collect();
                    (id, data)
                }
                _ => continue,
            };
            let rssi = match adapter.peripheral(&id).await {
                Ok(p) => p.properties().await.ok().flatten().and_then(|props| props.rssi).unwrap_or(-100),
                Err(_) => continue,
            };
            for d in data {
                let sighting = Sighting { data: d, rssi, at_ms: taipei_core::net::clock::local_now_ms() };
                match client.attendance().sighting(sighting).await {
                    Ok(Some(p)) => {
                        print_punch(&p);
                        punches.push(p);
                    }
                    // An advert that is not the office's beacon is no punch; a failure
                    // every capability shares (offline, the store) ends the scan.
                    Ok(None) => {}
                    Err(taipei_core::attendance::AttendanceError::Common(e)) => return Err(e.into()),
                    Err(_) => {}
                }
            }
        }
        adapter.stop_scan().await.map_err(ble)?;
        sync_and_show(&client, &punches).await
    })
}
