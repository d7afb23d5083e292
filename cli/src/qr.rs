//! `taipei qr`: decode images and render codes with the core's QR engine.

use std::time::Instant;

use taipei_core::qr::{self, DecodeOptions, EcLevel, RenderOptions, render};

/// The commands this module adds to `taipei`.
#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// Read and render QR codes with the core's QR engine
    #[command(subcommand)]
    Qr(Qr),
}

#[derive(Debug, clap::Subcommand)]
pub enum Qr {
    /// Read every QR code in PNG/JPEG files
    Decode {
        /// One line of JSON per image: {"path","texts","us"} (us: decode time, file loading excluded)
        #[arg(long)]
        json: bool,
        /// Turn off steps of the decoder, to measure what each one adds
        #[arg(long, value_name = "STEP,...", value_enum, value_delimiter = ',')]
        without: Vec<Step>,
        /// Only rqrr's own threshold, as the baseline
        #[arg(long, conflicts_with = "without")]
        plain_rqrr: bool,
        /// Feed each image N times to one continuous-scan Scanner (as a camera showing a
        /// still scene): texts read on any frame, us the mean time per frame
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
        scan_frames: Option<u32>,
        /// PNG or JPEG files
        #[arg(value_name = "IMAGE", required = true)]
        images: Vec<String>,
    },
    /// Render TEXT as a QR code
    Encode {
        /// The text to encode (quote it if it has spaces)
        text: String,
        /// Where to write the code: a .png or .svg file
        #[arg(long, value_name = "FILE.png|FILE.svg", value_parser = out_file)]
        out: String,
        /// Error correction level
        #[arg(long, value_enum, ignore_case = true)]
        ec: Option<Ec>,
        /// Blank modules around the code
        #[arg(long, value_name = "N")]
        quiet_zone: Option<u32>,
        /// Pixels per module
        #[arg(long, value_name = "N")]
        module_px: Option<u32>,
    },
}

/// A step of the decoder's retry ladder that `--without` turns off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Step {
    Downscale,
    Local,
    Global,
    Upscale,
    Inverted,
    Rqrr,
    /// The cheap first look that ends the ladder on frames showing no finder pattern
    FirstLook,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Ec {
    L,
    M,
    Q,
    H,
}

pub fn run(args: Args) -> Result<(), String> {
    let Args::Qr(command) = args;
    match command {
        Qr::Decode { json, without, plain_rqrr, scan_frames, images } => {
            decode(json, &decode_options(&without, plain_rqrr), scan_frames, images)
        }
        Qr::Encode { text, out, ec, quiet_zone, module_px } => {
            let mut options = RenderOptions::default();
            if let Some(ec) = ec {
                options.ec_level = match ec {
                    Ec::L => EcLevel::L,
                    Ec::M => EcLevel::M,
                    Ec::Q => EcLevel::Q,
                    Ec::H => EcLevel::H,
                };
            }
            options.quiet_zone = quiet_zone.unwrap_or(options.quiet_zone);
            options.module_px = module_px.unwrap_or(options.module_px);
            encode(&text, &out, &options)
        }
    }
}

fn decode_options(without: &[Step], plain: bool) -> DecodeOptions {
    if plain {
        return DecodeOptions::plain_rqrr();
    }
    let mut o = DecodeOptions::default();
    for step in without {
        let switch = match step {
            Step::Downscale => &mut o.downscale,
            Step::Local => &mut o.local_threshold,
            Step::Global => &mut o.global_threshold,
            Step::Upscale => &mut o.upscale,
            Step::Inverted => &mut o.inverted,
            Step::Rqrr => &mut o.rqrr_locator,
            Step::FirstLook => &mut o.first_look,
        };
        *switch = false;
    }
    o
}

fn out_file(out: &str) -> Result<String, String> {
    if out.ends_with(".png") || out.ends_with(".svg") {
        Ok(out.to_owned())
    } else {
        Err("the file must end in .png or .svg".into())
    }
}

fn decode(json: bool, options: &DecodeOptions, scan_frames: Option<u32>, paths: Vec<String>) -> Result<(), String> {
    let mut failures = 0;
    for path in paths {
        let loaded = std::fs::read(&path).map_err(|e| e.to_string()).and_then(|bytes| {
            qr::load_luma(&bytes).map_err(|e| e.to_string())
        });
        let result = loaded.and_then(|img| {
            let start = Instant::now();
            let Some(frames) = scan_frames else {
                let found = qr::decode_luma_with(&img.frame(), options).map_err(|e| e.to_string())?;
                return Ok((found, start.elapsed().as_micros() as u64));
            };
            let mut scanner = qr::Scanner::new(qr::ScanOptions { decode: *options, ..qr::ScanOptions::default() });
            let mut found = Vec::new();
            for _ in 0..frames {
                for code in scanner.scan(&img.frame()).map_err(|e| e.to_string())? {
                    if !found.iter().any(|c: &qr::DecodedCode| c.bytes == code.bytes) {
                        found.push(code);
                    }
                }
            }
            Ok((found, start.elapsed().as_micros() as u64 / u64::from(frames)))
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

fn encode(text: &str, out: &str, options: &RenderOptions) -> Result<(), String> {
    let bytes = if out.ends_with(".svg") {
        render::svg(text, options).map_err(|e| e.to_string())?.into_bytes()
    } else if out.ends_with(".png") {
        render::png(text, options).map_err(|e| e.to_string())?
    } else {
        return Err(format!("--out must end in .png or .svg, not `{out}`"));
    };
    std::fs::write(out, bytes).map_err(|e| format!("cannot write {out}: {e}"))
}
