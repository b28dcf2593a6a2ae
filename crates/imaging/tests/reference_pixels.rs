//! Pixels against an independent decoder. `tests/fixtures/reference_pixels.json` was made by
//! `tests/fixtures/make_reference_pixels.py` from Pillow's `convert('RGB')` (tifffile where
//! Pillow cannot read a file or deliberately differs: planar-separate, 16-bit gray, WebP).
//! Lossless files must match byte for byte (sha256); lossy ones (JPEG, WebP) within a mean
//! absolute difference of 2 levels over the sampled pixels.

mod common;

use std::path::PathBuf;

use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

#[test]
fn decoded_pixels_match_the_reference() {
    let text = include_str!("fixtures/reference_pixels.json");
    let entries: Vec<Value> = serde_json::from_str(text).unwrap();
    assert!(
        entries.len() >= 40,
        "only {} reference entries",
        entries.len()
    );
    let mut failures = Vec::new();
    for e in &entries {
        let rel = e["path"].as_str().unwrap();
        let path: PathBuf = match e["root"].as_str().unwrap() {
            "shared" => shared(rel),
            _ => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(rel),
        };
        let img = ok(&path);
        let (w, h) = (e["width"].as_u64().unwrap(), e["height"].as_u64().unwrap());
        if (u64::from(img.width), u64::from(img.height)) != (w, h) {
            failures.push(format!(
                "{rel}: size {}×{} ≠ {w}×{h}",
                img.width, img.height
            ));
            continue;
        }
        if e["lossy"].as_bool().unwrap() {
            let samples = e["samples"].as_array().unwrap();
            let mut sum = 0u64;
            for s in samples {
                let s: Vec<u64> = s
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap())
                    .collect();
                let o = ((s[1] * w + s[0]) * 3) as usize;
                for c in 0..3 {
                    sum += (i64::from(img.rgb[o + c]) - s[2 + c] as i64).unsigned_abs();
                }
            }
            let mad = sum as f64 / (samples.len() * 3) as f64;
            eprintln!(
                "{rel}: mean absolute difference {mad:.3} over {} samples",
                samples.len()
            );
            if mad > 2.0 {
                failures.push(format!("{rel}: mean absolute difference {mad:.2} > 2"));
            }
            let mean: Vec<f64> = e["mean"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            for (c, m) in mean.iter().enumerate() {
                let ours = img
                    .rgb
                    .iter()
                    .skip(c)
                    .step_by(3)
                    .map(|&v| f64::from(v))
                    .sum::<f64>()
                    / (w * h) as f64;
                if (ours - m).abs() > 1.0 {
                    failures.push(format!("{rel}: channel {c} mean {ours:.2} vs {m:.2}"));
                }
            }
        } else {
            let digest = format!("{:x}", Sha256::digest(&img.rgb));
            if digest != e["sha256"].as_str().unwrap() {
                failures.push(format!("{rel}: sha256 differs ({})", img.source_mode));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
