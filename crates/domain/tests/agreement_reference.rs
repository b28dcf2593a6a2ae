//! The agreement statistics against the reference numbers in
//! `shared/fixtures/agreement/reference.json` (scikit-learn, pingouin and numpy, made by
//! `make_agreement_fixtures.py` beside it).

use histoscore_domain::agreement::{
    bland_altman, cohen_kappa, confusion, grid, grid_index, icc, mae, pair_agreement, IccRow,
    Interval, KappaWeights, Stat,
};
use serde_json::Value;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/agreement/reference.json"
);

/// Point estimates.
const POINT_TOL: f64 = 1e-9;
/// pingouin rounds CI95 to 2 decimals; a little slack for the last bit of rounding.
const CI_TOL: f64 = 0.005 + 1e-9;
/// F statistic and degrees of freedom, relative.
const F_REL_TOL: f64 = 1e-9;
/// p-values, relative.
const P_REL_TOL: f64 = 1e-6;

/// `|got - want| <= tol`; false for NaN.
fn within(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol
}

/// Collects every mismatch so one run shows them all.
#[derive(Default)]
struct Check {
    failures: Vec<String>,
    checked: usize,
}

impl Check {
    fn abs(&mut self, at: &str, field: &str, got: f64, want: f64, tol: f64) {
        self.checked += 1;
        if !within(got, want, tol) {
            self.failures.push(format!(
                "{at} {field}: got {got}, expected {want} (tolerance {tol})"
            ));
        }
    }

    fn rel(&mut self, at: &str, field: &str, got: f64, want: f64, tol: f64) {
        self.checked += 1;
        if !within(got, want, tol * want.abs()) {
            self.failures.push(format!(
                "{at} {field}: got {got}, expected {want} (relative tolerance {tol})"
            ));
        }
    }

    fn stat(&mut self, at: &str, field: &str, got: &Stat, want: &Value, tol: f64) {
        match (got, want.as_f64()) {
            (Stat::Value(g), Some(w)) => self.abs(at, field, *g, w, tol),
            (Stat::NotDefined(_), None) => self.checked += 1,
            (got, _) => self
                .failures
                .push(format!("{at} {field}: got {got:?}, expected {want}")),
        }
    }

    fn fail(&mut self, msg: String) {
        self.failures.push(msg);
    }
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn matrix(v: &Value) -> Vec<Vec<u64>> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_u64().expect("count"))
                .collect()
        })
        .collect()
}

fn check_icc_row(c: &mut Check, at: &str, got: &IccRow, want: &Value, skip_f: bool) {
    c.abs(at, "icc", got.icc, want["icc"].as_f64().unwrap(), POINT_TOL);
    let ci = f64s(&want["ci95"]);
    c.abs(at, "ci95[0]", got.ci95[0], ci[0], CI_TOL);
    c.abs(at, "ci95[1]", got.ci95[1], ci[1], CI_TOL);
    c.rel(at, "df1", got.df1, want["df1"].as_f64().unwrap(), F_REL_TOL);
    c.rel(at, "df2", got.df2, want["df2"].as_f64().unwrap(), F_REL_TOL);
    if skip_f {
        return;
    }
    match got.f {
        Stat::Value(f) => c.rel(at, "F", f, want["F"].as_f64().unwrap(), F_REL_TOL),
        ref other => c.fail(format!("{at} F: got {other:?}, expected {}", want["F"])),
    }
    c.rel(
        at,
        "pval",
        got.pval,
        want["pval"].as_f64().unwrap(),
        P_REL_TOL,
    );
}

#[test]
fn matches_reference_implementations() {
    let text = std::fs::read_to_string(FIXTURE)
        .unwrap_or_else(|e| panic!("cannot read the agreement fixture {FIXTURE}: {e}"));
    let fixture: Value = serde_json::from_str(&text).expect("reference.json parses");
    let cases = fixture["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 5, "the fixture has five cases");
    let mut c = Check::default();

    for case in cases {
        let name = case["name"].as_str().unwrap();
        let max = case["max"].as_f64().unwrap();
        let step = case["step"].as_f64().unwrap();
        let raters: Vec<Vec<f64>> = case["raters"]
            .as_array()
            .unwrap()
            .iter()
            .map(f64s)
            .collect();
        let g = grid(max, step);
        let idx = |r: &[f64]| -> Vec<usize> { r.iter().map(|&v| grid_index(v, step)).collect() };
        // The perfect-agreement case has an error mean square of zero up to rounding, so its F
        // and p-value are rounding noise in the reference.
        let degenerate_f = name == "perfect_agreement";

        // The full ICC table over all raters.
        let table = match icc(&raters) {
            Ok(t) => Some(t),
            Err(e) => {
                c.fail(format!("case {name} icc: not defined ({e})"));
                None
            }
        };
        if let Some(t) = &table {
            let want = &case["icc"];
            for (key, row) in [
                ("ICC(1,1)", &t.icc1),
                ("ICC(A,1)", &t.icc2),
                ("ICC(C,1)", &t.icc3),
                ("ICC(1,k)", &t.icc1k),
                ("ICC(A,k)", &t.icc2k),
                ("ICC(C,k)", &t.icc3k),
            ] {
                let at = format!("case {name} icc {key}");
                check_icc_row(&mut c, &at, row, &want[key], degenerate_f);
            }
        }

        for pair in case["pairs"].as_array().unwrap() {
            let (ia, ib) = (
                pair["a"].as_u64().unwrap() as usize,
                pair["b"].as_u64().unwrap() as usize,
            );
            let at = format!("case {name} pair {ia}-{ib}");
            let (a, b) = (&raters[ia], &raters[ib]);
            let (ga, gb) = (idx(a), idx(b));

            c.stat(&at, "mae", &mae(a, b), &pair["mae"], POINT_TOL);
            for (field, w) in [
                ("qwk_full_grid", KappaWeights::Quadratic),
                ("linear_kappa_full_grid", KappaWeights::Linear),
                ("kappa_full_grid", KappaWeights::None),
            ] {
                let k = cohen_kappa(&ga, &gb, g.len(), w);
                c.stat(&at, field, &k, &pair[field], POINT_TOL);
            }
            let want_confusion = matrix(&pair["confusion_full_grid"]);
            c.checked += 1;
            if confusion(&ga, &gb, g.len()) != want_confusion {
                c.fail(format!("{at} confusion_full_grid differs"));
            }
            let ba = bland_altman(a, b);
            let want_ba = &pair["bland_altman"];
            for (field, got) in [
                ("mean_diff", &ba.mean_diff),
                ("sd_diff", &ba.sd_diff),
                ("loa_low", &ba.loa_low),
                ("loa_high", &ba.loa_high),
            ] {
                c.stat(
                    &at,
                    &format!("bland_altman.{field}"),
                    got,
                    &want_ba[field],
                    POINT_TOL,
                );
            }
            c.checked += 1;
            if ba.points.len() != a.len()
                || ba
                    .points
                    .iter()
                    .zip(a.iter().zip(b))
                    .any(|(p, (x, y))| *p != [(x + y) / 2.0, x - y])
            {
                c.fail(format!("{at} bland_altman.points differ"));
            }

            // The summary the app shows agrees with the pieces.
            let p = pair_agreement(a, b, max, step);
            let pat = format!("{at} pair_agreement");
            c.checked += 1;
            if p.n != a.len() {
                c.fail(format!("{pat} n: got {}, expected {}", p.n, a.len()));
            }
            c.stat(&pat, "mae", &p.mae, &pair["mae"], POINT_TOL);
            c.stat(&pat, "qwk", &p.qwk, &pair["qwk_full_grid"], POINT_TOL);
            c.checked += 1;
            if p.confusion != want_confusion {
                c.fail(format!("{pat} confusion differs"));
            }
            c.checked += 1;
            if p.bland_altman != ba {
                c.fail(format!("{pat} bland_altman differs from bland_altman()"));
            }
            // With two raters the case's ICC table is this pair's.
            if raters.len() == 2 {
                for (field, got, key) in [
                    ("icc2_1", &p.icc2_1, "ICC(A,1)"),
                    ("icc3_1", &p.icc3_1, "ICC(C,1)"),
                ] {
                    let want = &case["icc"][key];
                    match got {
                        Interval::Value { value, ci95 } => {
                            c.abs(
                                &pat,
                                field,
                                *value,
                                want["icc"].as_f64().unwrap(),
                                POINT_TOL,
                            );
                            let ci = f64s(&want["ci95"]);
                            c.abs(&pat, &format!("{field}.ci95[0]"), ci95[0], ci[0], CI_TOL);
                            c.abs(&pat, &format!("{field}.ci95[1]"), ci95[1], ci[1], CI_TOL);
                        }
                        Interval::NotDefined { not_defined: r } => {
                            c.fail(format!("{pat} {field}: not defined ({r})"))
                        }
                    }
                }
            } else {
                // Pairs of a multi-rater case: compare with a two-rater table.
                let t = icc(&[a.clone(), b.clone()]).expect("pair ICC defined");
                c.checked += 1;
                let want = Interval::Value {
                    value: t.icc2.icc,
                    ci95: t.icc2.ci95,
                };
                if p.icc2_1 != want {
                    c.fail(format!(
                        "{pat} icc2_1: got {:?}, expected {want:?}",
                        p.icc2_1
                    ));
                }
            }
        }
    }

    assert!(
        c.failures.is_empty(),
        "{} of {} checks failed:\n{}",
        c.failures.len(),
        c.checked,
        c.failures.join("\n")
    );
    assert!(c.checked > 200, "only {} checks ran", c.checked);
}
