//! Builds the web UI (`web/`, Vite) into `$OUT_DIR/web-dist`, which the server embeds.
//!
//! - `HISTOSCORE_SKIP_WEB=1`: embed a placeholder page instead (Rust-only work).
//! - `HISTOSCORE_REQUIRE_WEB=1`: fail the build when the UI cannot be built (CI sets it).
//!
//! Otherwise a failed UI build is a warning and the placeholder page says what to do.
//!
//! Text files (scripts, styles, pages) are also stored brotli- and gzip-compressed (`name.br`,
//! `name.gz`), so that the
//! server sends them compressed without compressing on every request.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let web = manifest.join("../../web");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("web-dist");
    for p in [
        "src",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.ts",
        "public",
    ] {
        println!("cargo:rerun-if-changed={}", web.join(p).display());
    }
    // The UI's API types are generated from the committed OpenAPI document.
    println!(
        "cargo:rerun-if-changed={}",
        manifest.join("../../docs/openapi.json").display()
    );
    println!("cargo:rerun-if-env-changed=HISTOSCORE_SKIP_WEB");
    println!("cargo:rerun-if-env-changed=HISTOSCORE_REQUIRE_WEB");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let require = std::env::var("HISTOSCORE_REQUIRE_WEB").is_ok_and(|v| v == "1");
    let reason = if std::env::var("HISTOSCORE_SKIP_WEB").is_ok_and(|v| v == "1") {
        Some("the build was run with HISTOSCORE_SKIP_WEB=1".to_string())
    } else if !web.join("package.json").exists() {
        Some("web/ has no package.json".to_string())
    } else {
        build(&web, &out).err()
    };
    if let Some(reason) = reason {
        if require {
            panic!("the web UI could not be built: {reason}");
        }
        println!("cargo:warning=web UI not built ({reason}); serving a placeholder page");
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(
            out.join("index.html"),
            format!(
                "<!doctype html><meta charset=utf-8><title>Histoscore</title>\
                 <h1>Histoscore</h1><p>The web UI was not built into this binary ({}). \
                 Install Node.js 20 and npm, then rebuild; the API is at <a href=/docs>/docs</a>.</p>",
                html_escape(&reason)
            ),
        )
        .unwrap();
    }
    precompress(&out).expect("compressing the web UI's files");
}

/// Writes `name.br` (brotli) and `name.gz` (gzip) beside every text file under `dir`.
fn precompress(dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            precompress(&path)?;
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !["html", "js", "mjs", "css", "svg", "json", "txt", "wasm"].contains(&ext) {
            continue;
        }
        let bytes = std::fs::read(&path)?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes)?;
        let mut name = path.as_os_str().to_owned();
        name.push(".gz");
        std::fs::write(name, gz.finish()?)?;
        // Brotli at its best quality and a 4 MB window: slow to compress, done once here.
        let mut br = brotli::CompressorWriter::new(Vec::new(), 1 << 16, 11, 22);
        br.write_all(&bytes)?;
        br.flush()?;
        let mut name = path.as_os_str().to_owned();
        name.push(".br");
        std::fs::write(name, br.into_inner())?;
    }
    Ok(())
}

fn build(web: &Path, out: &Path) -> Result<(), String> {
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    if !web.join("node_modules").exists() {
        run(Command::new(npm)
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(web))?;
    }
    run(Command::new(npm)
        .args(["run", "build", "--", "--outDir"])
        .arg(out)
        .arg("--emptyOutDir")
        .current_dir(web))?;
    if !out.join("index.html").exists() {
        return Err("the Vite build wrote no index.html".into());
    }
    Ok(())
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let output = cmd
        .output()
        .map_err(|e| format!("could not run {shown}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&output.stderr);
        let tail: String = err
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        Err(format!("{shown} failed: {tail}"))
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
