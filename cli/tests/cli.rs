//! The built `taipei` binary, run as a person runs it: help on every command, usage on
//! bad input, shell completions, and real commands end to end (QR files on disk, a
//! phone profile in a temp folder, the reference server on loopback).

use std::path::Path;
use std::process::{Command, Output};

// The portal's calls (binding offers, the root key) as the demo makes them.
#[allow(dead_code)]
#[path = "../src/portal.rs"]
mod portal;

fn taipei(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_taipei"))
        .args(args)
        // Defaults must not come from the machine running the tests.
        .env_remove("TAIPEI_DATA")
        .env_remove("TAIPEI_SERVER")
        .env_remove("TAIPEI_ROOT_KEY")
        .output()
        .unwrap_or_else(|e| panic!("cannot run taipei: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The subcommand names a help page lists under `Commands:` (without `help`).
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|name| name != "help")
        .collect()
}

/// Every command path under `taipei`, found by walking the help pages: a command added
/// to any module is covered without touching this test.
fn every_command() -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut todo = vec![Vec::<String>::new()];
    while let Some(path) = todo.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = taipei(&args);
        let help = text(&out.stdout);
        assert!(out.status.success(), "`taipei {}` failed: {}", args.join(" "), text(&out.stderr));
        let usage = format!("Usage: taipei {}", path.join(" "));
        assert!(help.contains(usage.trim_end()), "`taipei {}` shows no usage line:\n{help}", args.join(" "));
        for name in listed_commands(&help) {
            let mut child = path.clone();
            child.push(name);
            todo.push(child);
        }
        if !path.is_empty() {
            found.push(path);
        }
    }
    found.sort();
    found
}

#[test]
fn help_works_for_every_command() {
    let commands = every_command();
    let names: Vec<String> = commands.iter().map(|p| p.join(" ")).collect();
    // The walk really went down the tree: the commands of every module, nested ones too.
    for expected in [
        "demo",
        "server",
        "qr decode",
        "qr encode",
        "bind",
        "login scan",
        "login history",
        "meeting scan",
        "attendance simulate",
        "attendance manual",
        "attendance week",
        "attendance scan",
        "wallet sync",
        "wallet verify",
        "wallet conformance",
        "completions",
    ] {
        assert!(names.iter().any(|n| n == expected), "`taipei {expected}` is missing from the help tree: {names:?}");
    }
    // The shape the hand-made parser could not answer.
    let out = taipei(&["login", "scan", "--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for option in ["--text <QR>", "--number <NN>", "--deny", "--report", "--data <DIR>", "--server <URL>"] {
        assert!(help.contains(option), "`taipei login scan --help` lacks {option}:\n{help}");
    }
    // `help` as a subcommand reaches the same page.
    let out = taipei(&["help", "login", "scan"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), help);
}

#[test]
fn every_command_refuses_an_unknown_option_with_usage() {
    for path in every_command() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--no-such-option");
        let out = taipei(&args);
        let stderr = text(&out.stderr);
        let line = args.join(" ");
        assert_eq!(out.status.code(), Some(2), "`taipei {line}` did not fail as a usage error: {stderr}");
        assert!(stderr.contains("'--no-such-option'"), "`taipei {line}` does not name the option: {stderr}");
        assert!(stderr.contains("Usage: taipei"), "`taipei {line}` shows no usage: {stderr}");
        assert!(out.stdout.is_empty(), "`taipei {line}` printed on stdout");
    }
}

#[test]
fn bad_command_lines_fail_with_usage() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "Usage: taipei"),
        (&["teleport"], "unrecognized subcommand 'teleport'"),
        (&["login", "scan"], "required arguments were not provided"),
        (&["login", "scan", "a.png", "--text", "TPL1:x"], "cannot be used with"),
        (&["login", "scan", "--text", "TPL1:x", "--number", "12", "--deny"], "cannot be used with"),
        (&["attendance", "simulate", "--office", "hq", "--walk", "sideways"], "invalid value 'sideways'"),
        (&["attendance", "manual", "--kind", "up", "--reason", "x"], "a punch is `in` or `out`"),
        (&["attendance", "week", "--at-ms", "soon"], "invalid value 'soon'"),
        (&["server", "--bind", "not-an-address"], "invalid value 'not-an-address'"),
        (&["qr", "decode"], "required arguments were not provided"),
        (&["qr", "decode", "--without", "sharpen", "a.png"], "invalid value 'sharpen'"),
        (&["qr", "encode", "X", "--out", "x.gif"], "must end in .png or .svg"),
        (&["qr", "encode", "X", "--out", "x.png", "--ec", "Z"], "invalid value 'Z'"),
        (&["wallet", "backup", "f.bin"], "--passphrase <P>"),
        (&["completions", "tcsh"], "invalid value 'tcsh'"),
    ];
    for (args, expected) in cases {
        let out = taipei(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "`taipei {}`: {stderr}", args.join(" "));
        assert!(stderr.contains(expected), "`taipei {}` should say {expected:?}: {stderr}", args.join(" "));
        assert!(stderr.contains("Usage:"), "`taipei {}` shows no usage: {stderr}", args.join(" "));
    }
}

#[test]
fn completions_generate_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = taipei(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        // Nested commands and their options are in the script, not only the top level.
        for word in ["attendance", "simulate", "conformance", "root-key"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    // The bash script is at least valid bash.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let file = dir.path().join("taipei.bash");
    std::fs::write(&file, taipei(&["completions", "bash"]).stdout).unwrap_or_else(|e| panic!("{e}"));
    let check = Command::new("bash").arg("-n").arg(&file).output().unwrap_or_else(|e| panic!("bash: {e}"));
    assert!(check.status.success(), "bash -n: {}", text(&check.stderr));
}

fn encode(text_in: &str, out: &Path, extra: &[&str]) {
    let out_s = out.to_string_lossy();
    let mut args = vec!["qr", "encode", text_in, "--out", &out_s];
    args.extend_from_slice(extra);
    let run = taipei(&args);
    assert!(run.status.success(), "qr encode: {}", text(&run.stderr));
}

#[test]
fn qr_encode_then_decode_round_trips_through_files() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let message = "TPB1:round trip through the command line 臺北";
    let png = dir.path().join("code.png");
    encode(message, &png, &["--ec", "h", "--module-px", "6"]);
    let other = dir.path().join("other.png");
    encode("HELLO", &other, &[]);

    let out = taipei(&["qr", "decode", "--json", &png.to_string_lossy(), &other.to_string_lossy()]);
    assert!(out.status.success(), "qr decode: {}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["texts"], serde_json::json!([message]));
    assert_eq!(lines[1]["texts"], serde_json::json!(["HELLO"]));

    // A decoder step switched off still reads a clean code.
    let out = taipei(&["qr", "decode", "--without", "downscale,upscale", &png.to_string_lossy()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(message));

    // SVG output is a real SVG of the same code size.
    let svg = dir.path().join("code.svg");
    encode(message, &svg, &[]);
    let body = std::fs::read_to_string(&svg).unwrap_or_else(|e| panic!("{e}"));
    assert!(body.contains("<svg"), "not an SVG: {body:.80}");

    // A file that is not a picture fails the command (exit 1) with the file named.
    let out = taipei(&["qr", "decode", &svg.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("code.svg") && stderr.contains("error: 1 image(s) could not be read"), "{stderr}");
}

/// The phone commands against the reference server: bind from a QR picture, then the
/// login history and a wallet sync, with the profile found through `--data` and the
/// environment alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_commands_run_against_the_reference_server() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let server = taipei_server::start(taipei_server::ServerConfig::embedded(dir.path().join("server.db")))
        .await
        .unwrap_or_else(|e| panic!("server: {e}"));
    let url = server.base_url();
    let portal_system = portal::mint_credential(&url, server.admin_token(), "portal", None)
        .await
        .unwrap_or_else(|e| panic!("portal credential: {e}"));
    let offer = portal::offer_binding(&url, &portal_system.token, "A123456789", "陳○明")
        .await
        .unwrap_or_else(|e| panic!("binding offer: {e}"));
    let root_key = portal::root_key(&url).await.unwrap_or_else(|e| panic!("root key: {e}"));
    let data = dir.path().join("phone");
    let png = dir.path().join("binding.png");
    let (data_s, png_s) = (data.to_string_lossy().into_owned(), png.to_string_lossy().into_owned());

    let run = |args: Vec<String>, env: Vec<(&'static str, String)>| {
        tokio::task::spawn_blocking(move || {
            let mut command = Command::new(env!("CARGO_BIN_EXE_taipei"));
            command.args(&args).env_remove("TAIPEI_DATA").env_remove("TAIPEI_SERVER").env_remove("TAIPEI_ROOT_KEY");
            command.envs(env).output().unwrap_or_else(|e| panic!("cannot run taipei: {e}"))
        })
    };
    let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    let out = run(args(&["qr", "encode", &offer.qr, "--out", &png_s]), vec![]).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Profile and server from the environment; the QR from a picture.
    let env = vec![("TAIPEI_DATA", data_s.clone()), ("TAIPEI_SERVER", url.clone())];
    let out = run(args(&["bind", &png_s]), env).await.unwrap_or_else(|e| panic!("{e}"));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "bind: {}{stdout}", text(&out.stderr));
    assert!(stdout.contains("bound: device") && stdout.contains("A123456789"), "{stdout}");

    // The same profile through the options.
    let out = run(args(&["login", "history", "--data", &data_s, "--server", &url]), vec![]).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "login history: {}", text(&out.stderr));

    let out = run(args(&["wallet", "sync", "--data", &data_s, "--server", &url, "--root-key", &root_key]), vec![])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "wallet sync: {}{stdout}", text(&out.stderr));
    assert!(stdout.contains("0 new, 0 held by the server") && stdout.contains("lists as of"), "{stdout}");

    // The root key from the environment also reaches the wallet.
    let env = vec![("TAIPEI_ROOT_KEY", root_key.clone())];
    let out = run(args(&["wallet", "list", "--data", &data_s, "--server", &url]), env).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "wallet list: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("0 certificate(s)"));

    // An inspector's verdicts as JSON: every check, parsed back; a forged copy and a
    // revoked certificate each name the check that failed, in both languages.
    let school = portal::mint_credential(&url, server.admin_token(), "issuer", Some("TPE-EDU")).await.unwrap_or_else(|e| panic!("{e}"));
    let diploma = taipei_protocol::wallet::NewCertificate {
        user_id: "A123456789".into(),
        issuer: "TPE-EDU".into(),
        cert_type: "diploma".into(),
        holder_name: "陳小明".into(),
        title: taipei_protocol::cert::city::Text::new("高級中等學校畢業證書", "Senior High School Diploma"),
        fields: vec![],
        expires_at_ms: None,
        document_sha256: None,
    };
    let issued = portal::issue_certificate(&url, &school.token, &diploma).await.unwrap_or_else(|e| panic!("{e}"));
    let on_phone = ["--data", data_s.as_str(), "--server", url.as_str(), "--root-key", root_key.as_str()];
    let verify_json = |qr: String| {
        let mut line = vec!["wallet".to_owned(), "verify".into(), "--json".into(), "--text".into(), qr];
        line.extend(on_phone.iter().map(|s| (*s).to_owned()));
        async move {
            let out = run(line, vec![]).await.unwrap_or_else(|e| panic!("{e}"));
            assert!(out.status.success(), "wallet verify --json: {}", text(&out.stderr));
            serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
        }
    };
    let sync = || {
        let mut line = args(&["wallet", "sync"]);
        line.extend(on_phone.iter().map(|s| (*s).to_owned()));
        async { assert!(run(line, vec![]).await.unwrap_or_else(|e| panic!("{e}")).status.success()) }
    };
    sync().await;
    let codes = |v: &serde_json::Value| -> Vec<String> {
        v["steps"].as_array().unwrap_or_else(|| panic!("no steps: {v}")).iter().map(|s| s["code"].as_str().unwrap_or("?").to_owned()).collect()
    };
    let step = |v: &serde_json::Value, code: &str| v["steps"].as_array().and_then(|s| s.iter().find(|s| s["code"] == code)).cloned().unwrap_or_default();
    let valid = verify_json(issued.qr.clone()).await;
    assert_eq!(valid["kind"], "valid", "{valid}");
    let expected = ["format", "integrity", "content", "issuer", "signature", "issuer_match", "allowed_type", "revocation", "validity"];
    assert_eq!(codes(&valid), expected);
    assert!(valid["steps"].as_array().into_iter().flatten().all(|s| s["status"] == "passed"), "{valid}");
    assert_eq!(valid["certificate"]["holder"], "陳○明");

    // The same claims signed by another key under the school's key id.
    let (alg, rng) = (&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, ring::rand::SystemRandom::new());
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap_or_else(|e| panic!("{e}"));
    let other = ring::signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap_or_else(|e| panic!("{e}"));
    let decoded = taipei_protocol::cert::decode(&issued.qr).unwrap_or_else(|e| panic!("{e}"));
    let claims = taipei_protocol::cert::city::CityCertificate::from_claims(&decoded.claims).unwrap_or_else(|e| panic!("{e}"));
    let forged = claims.sign(&other, decoded.cose.kid().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let v = verify_json(forged).await;
    assert_eq!((&v["kind"], &step(&v, "signature")["status"]), (&"invalid_signature".into(), &"failed".into()), "{v}");
    assert!(step(&v, "signature")["words"]["en"].as_str().unwrap_or("").contains("does not match any trusted issuer"), "{v}");
    assert_eq!(step(&v, "validity")["status"], "not_checked");

    portal::revoke_certificate(&url, &school.token, &issued.id).await.unwrap_or_else(|e| panic!("{e}"));
    sync().await;
    let v = verify_json(issued.qr.clone()).await;
    let revocation = step(&v, "revocation");
    assert_eq!((&v["kind"], &revocation["status"]), (&"revoked".into(), &"failed".into()), "{v}");
    assert!(revocation["words"]["zh"].as_str().unwrap_or("").contains("已撤銷"), "{v}");
    assert_eq!(v["reason"], revocation["words"]["en"]);

    // A failure of the command itself (a code nobody issued) exits 1 with the core's code.
    let out = run(args(&["bind", "--text", "TPB1:not-a-binding", "--data", &data_s, "--server", &url]), vec![])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: ["), "{stderr}");

    server.shutdown().await;
}
