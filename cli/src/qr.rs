//! `taipei qr`: decode images and render codes with the core's QR engine.

use std::time::Instant;

use taipei_core::qr::{self, DecodeOptions, EcLevel, RenderOptions, render};

use crate::args::Args;

pub const USAGE: &str = "\
    taipei qr decode [--json] [--without STEP,...] [--plain-rqrr] IMAGE...
                                read every QR code in PNG/JPEG files; --json prints
                                {\"path\",\"texts\",\"us\"} per image (us: decode time,
                                file loading excluded). STEP: downscale, local, global,
                                upscale, inverted, rqrr (for measuring each step)
    taipei qr encode TEXT --out FILE.png|FILE.svg [--ec L|M|Q|H] [--quiet-zone N] [--module-px N]
                                render TEXT as a QR code";

pub fn run(argv: Vec<String>) -> Result<(), String> {
    let mut argv = argv.into_iter();
    match argv.next().as_deref() {
        Some("decode") => decode(Args::new(argv.collect())),
        Some("encode") => encode(Args::new(argv.collect())),
        _ => Err(format!("usage:\n{USAGE}")),
    }
}

fn decode_options(without: Option<String>, plain: bool) -> Result<DecodeOptions, String> {
    if plain {
        return Ok(DecodeOptions::plain_rqrr());
    }
    let mut o = DecodeOptions::default();
    for step in without.iter().flat_map(|s| s.split(',')).filter(|s| !s.is_empty()) {
        let switch = match step {
            "downscale" => &mut o.downscale,
            "local" => &mut o.local_threshold,
            "global" => &mut o.global_threshold,
            "upscale" => &mut o.upscale,
            "inverted" => &mut o.inverted,
            "rqrr" => &mut o.rqrr_locator,
            other => return Err(format!("unknown step `{other}`")),
        };
        *switch = false;
    }
    Ok(o)
}

fn decode(mut args: Args) -> Result<(), String> {
    let json = args.flag("--json");
    let plain = args.flag("--plain-rqrr");
    let options = decode_options(args.value("--without")?, plain)?;
    let paths = args.positional()?;
    if paths.is_empty() {
        return Err(format!("no image given\n{USAGE}"));
    }
    let mut failures = 0;
    for path in paths {
        let loaded = std::fs::read(&path).map_err(|e| e.to_string()).and_then(|bytes| {
            qr::load_luma(&bytes).map_err(|e| e.to_string())
        });
        let result = loaded.and_then(|img| {
            let start = Instant::now();
            let found = qr::decode_luma_with(&img.frame(), &options).map_err(|e| e.to_string())?;
            Ok((found, start.elapsed().as_micros() as u64))
        });
        match (result, json) {
            (Ok((found, us)), true) => {
                let texts: Vec<&str> = found.iter().map(|c| c.text.as_str()).collect();
                println!("{}", serde_json::json!({ "path": path, "texts": texts, "us": us }));
            }
            (Ok((found, us)), false) => {
                if found.is_empty() {
                    println!("{path}: no QR code ({us} µs)");
                }
                for code in found {
                    println!("{path}: {} (version {}, {:?}, {} µs)", code.text, code.version, code.ec_level, us);
                }
            }
            (Err(e), true) => {
                failures += 1;
                println!("{}", serde_json::json!({ "path": path, "texts": [], "error": e }));
            }
            (Err(e), false) => {
                failures += 1;
                eprintln!("{path}: {e}");
            }
        }
    }
    if failures > 0 {
        return Err(format!("{failures} image(s) could not be read"));
    }
    Ok(())
}

fn encode(mut args: Args) -> Result<(), String> {
    let out = args.value("--out")?.ok_or("encode needs --out FILE.png or FILE.svg")?;
    let mut options = RenderOptions::default();
    if let Some(ec) = args.value("--ec")? {
        options.ec_level = match ec.to_ascii_uppercase().as_str() {
            "L" => EcLevel::L,
            "M" => EcLevel::M,
            "Q" => EcLevel::Q,
            "H" => EcLevel::H,
            _ => return Err(format!("--ec must be L, M, Q or H, not `{ec}`")),
        };
    }
    if let Some(n) = args.value("--quiet-zone")? {
        options.quiet_zone = n.parse().map_err(|_| format!("--quiet-zone needs a number, not `{n}`"))?;
    }
    if let Some(n) = args.value("--module-px")? {
        options.module_px = n.parse().map_err(|_| format!("--module-px needs a number, not `{n}`"))?;
    }
    let [text]: [String; 1] = args
        .positional()?
        .try_into()
        .map_err(|_| "encode takes exactly one TEXT (quote it if it has spaces)".to_string())?;
    let bytes = if out.ends_with(".svg") {
        render::svg(&text, &options).map_err(|e| e.to_string())?.into_bytes()
    } else if out.ends_with(".png") {
        render::png(&text, &options).map_err(|e| e.to_string())?
    } else {
        return Err(format!("--out must end in .png or .svg, not `{out}`"));
    };
    std::fs::write(&out, bytes).map_err(|e| format!("cannot write {out}: {e}"))
}
