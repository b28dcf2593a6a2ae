//! The statistics against scikit-learn and pingouin (`shared/fixtures/agreement`).

use super::icc::{f_sf, f_upper_975};
use super::*;
use serde_json::json;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn grid_points_and_indices() {
    let g = grid(4.0, 0.25);
    assert_eq!(g.len(), 17);
    assert_eq!(g[0], 0.0);
    assert_eq!(g[1], 0.25);
    assert_eq!(g[16], 4.0);
    assert_eq!(grid(3.0, 0.25).len(), 13);
    assert_eq!(grid(0.0, 0.25), vec![0.0]);
    assert!(grid(4.0, 0.0).is_empty());
    assert!(grid(4.0, -0.25).is_empty());
    assert!(grid(-1.0, 0.25).is_empty());
    assert!(grid(f64::NAN, 0.25).is_empty());
    assert!(grid(1e9, 0.25).is_empty());
    // Half to even, like numpy's rint.
    assert_eq!(grid_index(0.125, 0.25), 0);
    assert_eq!(grid_index(0.375, 0.25), 2);
    assert_eq!(grid_index(0.625, 0.25), 2);
    assert_eq!(grid_index(2.0, 0.25), 8);
    assert_eq!(grid_index(2.1, 0.25), 8);
    assert_eq!(grid_index(-1.0, 0.25), 0);
    assert_eq!(grid_index(f64::NAN, 0.25), 0);
    assert_eq!(grid_index(1.0, 0.0), 0);
}

#[test]
fn mae_rules() {
    assert!(mae(&[], &[]).reason().unwrap().contains("no images"));
    assert!(mae(&[1.0], &[1.0, 2.0])
        .reason()
        .unwrap()
        .contains("different lengths"));
    assert!(mae(&[f64::NAN], &[1.0])
        .reason()
        .unwrap()
        .contains("not numbers"));
    assert_eq!(mae(&[1.0], &[1.5]), Stat::Value(0.5));
    assert_eq!(mae(&[1.0, 2.0, 3.0], &[1.5, 2.0, 2.0]), Stat::Value(0.5));
}

#[test]
fn confusion_counts_and_skips_out_of_range() {
    let m = confusion(&[0, 1, 1, 2, 5], &[0, 1, 2, 2, 0], 3);
    assert_eq!(m, vec![vec![1, 0, 0], vec![0, 1, 1], vec![0, 0, 1]]);
    assert!(confusion(&[], &[], 0).is_empty());
}

#[test]
fn kappa_matches_hand_computation() {
    // 2×2 table [[2,1],[0,1]]: po = 0.75, pe = (3·2 + 1·2)/16 = 0.5, kappa = 0.5.
    let a = [0, 0, 0, 1];
    let b = [0, 0, 1, 1];
    let k = cohen_kappa(&a, &b, 2, KappaWeights::None).value().unwrap();
    assert!(close(k, 0.5, 1e-12));
    // With two labels all three weightings agree.
    for w in [KappaWeights::Linear, KappaWeights::Quadratic] {
        assert!(close(
            cohen_kappa(&a, &b, 2, w).value().unwrap(),
            0.5,
            1e-12
        ));
    }
    // Identical raters: kappa 1 for every weighting.
    let x = [0, 1, 2, 3, 3];
    for w in [
        KappaWeights::None,
        KappaWeights::Linear,
        KappaWeights::Quadratic,
    ] {
        assert_eq!(cohen_kappa(&x, &x, 4, w), Stat::Value(1.0));
    }
}

#[test]
fn kappa_degenerate_cases() {
    let few = cohen_kappa(&[0, 1], &[0, 1], 3, KappaWeights::Quadratic);
    assert!(
        few.reason().unwrap().contains("fewer than 3 images"),
        "{few:?}"
    );
    let one = cohen_kappa(&[1, 1, 1], &[0, 1, 2], 3, KappaWeights::Quadratic);
    assert_eq!(
        one.reason().unwrap(),
        "every image got the same score from one rater, so kappa is not defined"
    );
    let both = cohen_kappa(&[1, 1, 1], &[1, 1, 1], 3, KappaWeights::None);
    assert!(both.reason().unwrap().contains("both raters"));
    let mism = cohen_kappa(&[1, 1, 1], &[1, 1], 3, KappaWeights::None);
    assert!(mism.reason().unwrap().contains("different lengths"));
    // Out-of-range indices are left out, which here leaves too few pairs.
    let out = cohen_kappa(&[0, 1, 9], &[0, 1, 1], 3, KappaWeights::None);
    assert!(out.reason().unwrap().contains("only 2"));
    assert!(cohen_kappa(&[], &[], 0, KappaWeights::None)
        .reason()
        .is_some());
}

#[test]
fn bland_altman_rules() {
    let few = bland_altman(&[1.0, 2.0], &[1.5, 2.0]);
    assert_eq!(few.points, vec![[1.25, -0.5], [2.0, 0.0]]);
    assert!(few.mean_diff.reason().unwrap().contains("fewer than 3"));
    assert!(few.loa_high.reason().is_some());

    let same = bland_altman(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]);
    assert_eq!(same.mean_diff, Stat::Value(0.0));
    assert_eq!(same.sd_diff, Stat::Value(0.0));
    assert_eq!(same.loa_low, Stat::Value(0.0));
    assert_eq!(same.loa_high, Stat::Value(0.0));

    let ba = bland_altman(&[1.0, 2.0, 3.0], &[0.0, 2.0, 2.0]);
    // d = [1, 0, 1]: mean 2/3, sd = sqrt(1/3).
    let sd = (1.0f64 / 3.0).sqrt();
    assert!(close(ba.mean_diff.value().unwrap(), 2.0 / 3.0, 1e-15));
    assert!(close(ba.sd_diff.value().unwrap(), sd, 1e-15));
    assert!(close(
        ba.loa_low.value().unwrap(),
        2.0 / 3.0 - 1.96 * sd,
        1e-15
    ));

    let mism = bland_altman(&[1.0, 2.0, 3.0], &[1.0]);
    assert!(mism.points.is_empty());
    assert!(mism.sd_diff.reason().unwrap().contains("different lengths"));
    let empty = bland_altman(&[], &[]);
    assert!(empty.points.is_empty());
    assert!(empty.mean_diff.reason().is_some());
}

#[test]
fn f_quantiles_and_tails() {
    // F(2, 2) has cdf x / (1 + x), so its 97.5% point is 39.
    assert!(close(f_upper_975(2.0, 2.0).unwrap(), 39.0, 1e-9));
    // Textbook table values.
    assert!(close(f_upper_975(1.0, 1.0).unwrap(), 647.789, 1e-3));
    assert!(close(f_upper_975(10.0, 10.0).unwrap(), 3.7168, 1e-4));
    assert!(close(f_upper_975(5.0, 10.0).unwrap(), 4.2361, 1e-4));
    // Non-integer degrees of freedom round-trip through the tail probability.
    for (d1, d2) in [(24.0, 3.7), (2.5, 59.0), (59.0, 118.0), (0.8, 7.0)] {
        let q = f_upper_975(d1, d2).unwrap();
        assert!(close(f_sf(q, d1, d2).unwrap(), 0.025, 1e-10), "{d1} {d2}");
    }
    assert_eq!(f_sf(f64::INFINITY, 3.0, 4.0), Some(0.0));
    assert_eq!(f_sf(0.0, 3.0, 4.0), Some(1.0));
    // Large degrees of freedom: d2 → ∞ gives the chi-square(d1) 97.5% point over d1, and
    // F(d, d) ≈ exp(2 · 1.96 / √d) (Fisher's z).
    assert!(close(
        f_upper_975(2.0, 1e9).unwrap(),
        -(0.025f64.ln()),
        1e-6
    ));
    assert!(close(f_upper_975(1.0, 1e9).unwrap(), 5.023886, 1e-5));
    assert!(close(f_upper_975(1e4, 1e4).unwrap(), 1.03998, 1e-5));
    // Degenerate degrees of freedom end (no endless iteration) with no answer.
    assert_eq!(f_upper_975(1e-6, 1e9), None);
    assert_eq!(f_upper_975(30.0, 1e-6), None);
    assert_eq!(f_upper_975(0.0, 4.0), None);
    assert_eq!(f_upper_975(f64::NAN, 4.0), None);
}

#[test]
fn icc_not_defined_cases() {
    let e = icc(&[vec![1.0, 2.0, 3.0]]).unwrap_err().0;
    assert!(e.contains("at least 2 raters"), "{e}");
    assert!(icc(&[]).is_err());
    let e = icc(&[vec![1.0, 2.0], vec![1.0, 2.5]]).unwrap_err().0;
    assert!(e.contains("fewer than 3 images"), "{e}");
    let e = icc(&[vec![], vec![]]).unwrap_err().0;
    assert!(e.contains("fewer than 3 images"), "{e}");
    let e = icc(&[vec![1.0, 2.0, 3.0], vec![1.0, 2.0]]).unwrap_err().0;
    assert!(e.contains("different numbers of images"), "{e}");
    let e = icc(&[vec![1.0, f64::NAN, 3.0], vec![1.0, 2.0, 3.0]])
        .unwrap_err()
        .0;
    assert!(e.contains("not numbers"), "{e}");
    let e = icc(&[vec![2.0; 5], vec![2.0; 5]]).unwrap_err().0;
    assert_eq!(e, IDENTICAL);
    // Scores that only look constant after rounding are still identical.
    let e = icc(&[vec![0.1; 7], vec![0.1; 7]]).unwrap_err().0;
    assert_eq!(e, IDENTICAL);
    // Every image averages 2: images cannot be told apart.
    let e = icc(&[vec![1.0, 2.0, 3.0], vec![3.0, 2.0, 1.0]])
        .unwrap_err()
        .0;
    assert_eq!(e, SAME_AVERAGE);
}

fn rows(t: &IccTable) -> [&IccRow; 6] {
    [&t.icc1, &t.icc2, &t.icc3, &t.icc1k, &t.icc2k, &t.icc3k]
}

#[test]
fn icc_identical_raters_is_one() {
    let s = vec![0.1, 0.7, 1.3, 2.9, 2.2, 0.1];
    let t = icc(&[s.clone(), s.clone(), s]).unwrap();
    for r in rows(&t) {
        assert_eq!(r.icc, 1.0);
        assert_eq!(r.ci95, [1.0, 1.0]);
        assert!(r.f.reason().unwrap().contains("F ratio is infinite"));
        assert_eq!(r.pval, 0.0);
    }
    assert_eq!(t.icc1.df1, 5.0);
    assert_eq!(t.icc1.df2, 12.0);
    assert_eq!(t.icc2.df2, 10.0);
}

#[test]
fn icc_constant_offset_is_consistent_but_not_in_absolute_agreement() {
    let a = vec![0.5, 1.0, 2.25, 3.0, 1.75];
    let b: Vec<f64> = a.iter().map(|v| v + 0.5).collect();
    let t = icc(&[a, b]).unwrap();
    assert_eq!(t.icc3.icc, 1.0);
    assert_eq!(t.icc3.ci95, [1.0, 1.0]);
    assert_eq!(t.icc3k.icc, 1.0);
    assert!(t
        .icc3
        .f
        .reason()
        .unwrap()
        .contains("same amount on every image"));
    assert_eq!(t.icc3.pval, 0.0);
    assert!(t.icc2.icc < 1.0 && t.icc2.icc > 0.5);
    let [lo, hi] = t.icc2.ci95;
    assert!(lo < t.icc2.icc && t.icc2.icc < hi && hi <= 1.0, "{lo} {hi}");
    let [lo, hi] = t.icc2k.ci95;
    assert!(lo < t.icc2k.icc && t.icc2k.icc < hi, "{lo} {hi}");
    // One-way ICC sees the offset as disagreement.
    assert!(t.icc1.icc < 1.0);
    assert!(t.icc1.f.value().unwrap() > 1.0);
}

#[test]
fn pair_agreement_empty_and_short_input() {
    let p = pair_agreement(&[], &[], 4.0, 0.25);
    assert_eq!(p.n, 0);
    assert!(p.mae.reason().is_some());
    assert!(p.qwk.reason().unwrap().contains("fewer than 3"));
    assert!(p.icc2_1.reason().unwrap().contains("fewer than 3"));
    assert!(p.icc3_1.reason().is_some());
    assert!(p.bland_altman.points.is_empty());
    assert_eq!(p.confusion.len(), 17);
    assert!(p.confusion.iter().flatten().all(|&c| c == 0));

    let p = pair_agreement(&[1.0, 2.0], &[1.0, 2.5], 4.0, 0.25);
    assert_eq!(p.n, 2);
    assert_eq!(p.mae, Stat::Value(0.25));
    assert!(p.qwk.reason().unwrap().contains("only 2"));
    assert!(p.icc2_1.reason().unwrap().contains("only 2"));
    assert_eq!(p.bland_altman.points.len(), 2);
    assert_eq!(p.confusion[4][4], 1);
    assert_eq!(p.confusion[8][10], 1);
}

#[test]
fn pair_agreement_constant_rater_and_identical_raters() {
    let p = pair_agreement(&[2.0; 4], &[1.0, 2.0, 3.0, 4.0], 4.0, 0.25);
    assert_eq!(
        p.qwk.reason().unwrap(),
        "every image got the same score from one rater, so kappa is not defined"
    );
    assert!(p.icc2_1.value().is_some());

    let s = [0.25, 1.0, 2.5, 3.75, 4.0];
    let p = pair_agreement(&s, &s, 4.0, 0.25);
    assert_eq!(p.qwk, Stat::Value(1.0));
    assert_eq!(p.mae, Stat::Value(0.0));
    assert_eq!(
        p.icc2_1,
        Interval::Value {
            value: 1.0,
            ci95: [1.0, 1.0]
        }
    );
    assert_eq!(p.icc3_1, p.icc2_1);
    assert_eq!(p.bland_altman.sd_diff, Stat::Value(0.0));

    let p = pair_agreement(&[2.0; 4], &[2.0; 4], 4.0, 0.25);
    assert!(p.qwk.reason().unwrap().contains("both raters"));
    assert_eq!(p.icc2_1.reason().unwrap(), IDENTICAL);
    assert_eq!(p.mae, Stat::Value(0.0));
}

/// Here ICC(A,k) divides by MSB − MSE / n = 0, so the full table is not defined, but the
/// two single-rater forms the pair summary shows are.
#[test]
fn one_form_not_computable_does_not_hide_the_others() {
    let (a, b) = (vec![0.75, 0.0, 0.0], vec![0.0, 0.0, 0.75]);
    let e = icc(&[a.clone(), b.clone()]).unwrap_err().0;
    assert!(e.contains("cannot be computed"), "{e}");
    let p = pair_agreement(&a, &b, 1.0, 0.25);
    assert!(close(p.icc2_1.value().unwrap(), -1.0, 1e-12), "{p:?}");
    assert!(close(p.icc3_1.value().unwrap(), -0.5, 1e-12), "{p:?}");
}

#[test]
fn pair_agreement_invalid_input() {
    let p = pair_agreement(&[1.0, 2.0, 3.0], &[1.0, 2.0], 4.0, 0.25);
    assert_eq!(p.n, 0);
    for r in [p.mae.reason(), p.qwk.reason(), p.icc2_1.reason()] {
        assert!(r.unwrap().contains("different lengths"));
    }
    assert!(p.bland_altman.points.is_empty());
    assert_eq!(p.confusion.len(), 17);

    let p = pair_agreement(&[1.0, f64::INFINITY, 3.0], &[1.0, 2.0, 3.0], 4.0, 0.25);
    assert!(p.mae.reason().unwrap().contains("not numbers"));

    let p = pair_agreement(&[1.0, 2.0, 3.0], &[1.0, 2.0, 2.0], 4.0, 0.0);
    assert!(p.qwk.reason().unwrap().contains("score scale"));
    assert!(p.confusion.is_empty());
    assert!(p.mae.value().is_some());
    assert!(p.icc2_1.value().is_some());
}

#[test]
fn pair_agreement_rounds_and_clamps_to_the_grid() {
    let p = pair_agreement(&[-1.0, 4.6, 1.1, 2.0], &[0.0, 4.0, 1.0, 2.125], 4.0, 0.25);
    assert_eq!(p.confusion[0][0], 1);
    assert_eq!(p.confusion[16][16], 1);
    assert_eq!(p.confusion[4][4], 1);
    // 2.125 / 0.25 = 8.5 rounds to even 8.
    assert_eq!(p.confusion[8][8], 1);
    assert_eq!(p.qwk, Stat::Value(1.0));
    // MAE uses the scores as given.
    assert!(close(
        p.mae.value().unwrap(),
        (1.0 + 0.6 + 0.1 + 0.125) / 4.0,
        1e-12
    ));
}

/// Every pair of 0–3 images with scores from {0, 1, 2} (and a few odd steps): no panic, no
/// NaN or infinity anywhere (serde_json writes those as null).
#[test]
fn no_nan_on_small_inputs() {
    let vals = [0.0, 1.0, 2.0];
    for n in 0..=3usize {
        let combos = 3usize.pow(2 * n as u32);
        for code in 0..combos {
            let mut c = code;
            let mut digit = || {
                let d = vals[c % 3];
                c /= 3;
                d
            };
            let a: Vec<f64> = (0..n).map(|_| digit()).collect();
            let b: Vec<f64> = (0..n).map(|_| digit()).collect();
            let p = pair_agreement(&a, &b, 2.0, 1.0);
            let text = serde_json::to_string(&p).unwrap();
            assert!(!text.contains("null"), "{a:?} {b:?}: {text}");
            // Parses back (floats may differ in the last bit: serde_json's default parser).
            let back: PairAgreement = serde_json::from_str(&text).unwrap();
            assert_eq!(back.n, p.n);
            assert_eq!(back.qwk.reason(), p.qwk.reason());
            if let Ok(t) = icc(&[a.clone(), b.clone(), a.clone()]) {
                let text = serde_json::to_string(&t).unwrap();
                assert!(!text.contains("null"), "{a:?} {b:?}: {text}");
            }
        }
    }
}

/// Random small, often degenerate tables: never a panic, a hang or a non-finite number.
#[test]
fn icc_random_small_tables() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |m: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % m
    };
    for _ in 0..3000 {
        let n = 3 + next(6) as usize;
        let k = 2 + next(3) as usize;
        let levels = 1 + next(4);
        let ratings: Vec<Vec<f64>> = (0..k)
            .map(|_| (0..n).map(|_| next(levels + 1) as f64 * 0.25).collect())
            .collect();
        if let Ok(t) = icc(&ratings) {
            let text = serde_json::to_string(&t).unwrap();
            assert!(!text.contains("null"), "{ratings:?}: {text}");
        }
        let p = pair_agreement(&ratings[0], &ratings[1], 1.0, 0.25);
        let text = serde_json::to_string(&p).unwrap();
        assert!(!text.contains("null"), "{ratings:?}: {text}");
    }
}

#[test]
fn json_shapes() {
    assert_eq!(
        serde_json::to_value(Stat::Value(0.81)).unwrap(),
        json!({"value": 0.81})
    );
    assert_eq!(
        serde_json::to_value(Stat::NotDefined("why".into())).unwrap(),
        json!({"not_defined": "why"})
    );
    let iv = Interval::Value {
        value: 0.81,
        ci95: [0.66, 0.9],
    };
    assert_eq!(
        serde_json::to_value(&iv).unwrap(),
        json!({"value": 0.81, "ci95": [0.66, 0.9]})
    );
    let nd = Interval::not_defined("why");
    assert_eq!(
        serde_json::to_value(&nd).unwrap(),
        json!({"not_defined": "why"})
    );
    for s in [Stat::Value(0.5), Stat::NotDefined("r".into())] {
        let back: Stat = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
    for i in [iv, nd] {
        let back: Interval = serde_json::from_value(serde_json::to_value(&i).unwrap()).unwrap();
        assert_eq!(back, i);
    }
    assert!(serde_json::from_value::<Interval>(json!({"value": 0.5})).is_err());
    assert_eq!(
        serde_json::to_value(KappaWeights::Quadratic).unwrap(),
        json!("quadratic")
    );
}

/// The OpenAPI schemas describe the same shapes as the JSON.
#[test]
fn openapi_schemas() {
    use utoipa::PartialSchema;
    // Both are a oneOf of two objects with exactly the JSON's fields, side by side.
    let check = |schema: serde_json::Value, value_fields: &[&str]| {
        let variants = schema["oneOf"].as_array().expect("oneOf").clone();
        assert_eq!(variants.len(), 2, "{schema}");
        let has = |v: &serde_json::Value, fields: &[&str]| {
            let props = v["properties"].as_object().expect("properties");
            props.len() == fields.len() && fields.iter().all(|f| props.contains_key(*f))
        };
        assert!(variants.iter().any(|v| has(v, value_fields)), "{schema}");
        assert!(
            variants.iter().any(|v| has(v, &["not_defined"])),
            "{schema}"
        );
    };
    check(serde_json::to_value(Stat::schema()).unwrap(), &["value"]);
    check(
        serde_json::to_value(Interval::schema()).unwrap(),
        &["value", "ci95"],
    );
}
