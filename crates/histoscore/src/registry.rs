//! `histoscore model import|show|list|activate|rollback|policy`: the model registry.

use anyhow::Result;
use histoscore_app::registry::import_file;
use histoscore_app::retraining;
use histoscore_store::RetrainPolicy;

/// The policy in a few plain lines.
fn print_policy(p: &RetrainPolicy) {
    let off = |v: Option<i64>, unit: &str| match v {
        Some(n) => format!("{n} {unit}"),
        None => "off".to_string(),
    };
    println!(
        "retrain after:        {}",
        off(p.after_reviewed, "newly reviewed images")
    );
    println!("retrain every:        {}", off(p.every_hours, "hours"));
    println!(
        "training:             {}",
        if p.head_only {
            "the last layer only (head)".to_string()
        } else {
            format!("fine-tune the last layers ({})", p.layers.join(", "))
        }
    );
    println!(
        "a better model:       {}",
        if p.auto_promote {
            "becomes the active model at once"
        } else {
            "waits for an administrator's approval"
        }
    );
    println!(
        "must improve:         {}",
        if p.metrics.is_empty() {
            "every metric".to_string()
        } else {
            p.metrics.join(", ")
        }
    );
    if let (Some(by), Some(at)) = (&p.updated_by, &p.updated_at) {
        println!(
            "set by:               {by}, {}",
            at.format("%Y-%m-%d %H:%M UTC")
        );
    }
}

/// `histoscore model import|list|activate|rollback`.
pub fn registry(cmd: crate::ModelCommand) -> Result<bool> {
    use crate::ModelCommand as M;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cmd {
            M::Import {
                file,
                name,
                field_um,
                schema,
                data,
            } => {
                let schema = schema.load()?;
                let store = data.open().await?;
                let blobs = data.blobs()?;
                let (mut entry, new) =
                    import_file(&store, &*blobs, &file, name.as_deref(), &schema, "cli").await?;
                if let Some((w, h)) = field_um {
                    entry = store.set_model_field_um(&entry.id, Some([w, h])).await?;
                    println!("fields on slides: {w} × {h} µm");
                }
                if new {
                    println!("registered model {} ({}); not active", entry.id, entry.name);
                } else {
                    println!("model {} ({}) was already registered", entry.id, entry.name);
                }
            }
            M::Show { id, data } => {
                let store = data.open().await?;
                let m = store.model(&id).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("{}", serde_json::to_string_pretty(&m)?);
            }
            M::List { data } => {
                let store = data.open().await?;
                let models = store.list_models().await?;
                if models.is_empty() {
                    println!(
                        "no registered models (serve --model FILE or histoscore model import FILE)"
                    );
                }
                for m in models {
                    println!(
                        "{} {:<14} {:<8} {:<24} {}",
                        if m.active { "*" } else { " " },
                        m.id,
                        m.source,
                        m.name,
                        m.created_at.format("%Y-%m-%d %H:%M")
                    );
                }
            }
            M::Activate { id, reason, data } => {
                let store = data.open().await?;
                let m = store
                    .activate_model(&id, "cli", reason.as_deref())
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("model {} ({}) is now active", m.id, m.name);
            }
            M::Rollback { data } => {
                let store = data.open().await?;
                let m = store
                    .rollback_model("cli")
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                println!("rolled back: model {} ({}) is active again", m.id, m.name);
            }
            M::Policy {
                after_reviewed,
                every_hours,
                mode,
                layers,
                promote,
                metrics,
                schema,
                data,
            } => {
                let store = data.open().await?;
                let mut p = store.retrain_policy().await?;
                let changing = after_reviewed.is_some()
                    || every_hours.is_some()
                    || mode.is_some()
                    || layers.is_some()
                    || promote.is_some()
                    || metrics.is_some();
                if changing {
                    if let Some(v) = after_reviewed {
                        p.after_reviewed = v.0;
                    }
                    if let Some(v) = every_hours {
                        p.every_hours = v.0;
                    }
                    if let Some(m) = mode {
                        p.head_only = m == "head";
                    }
                    if let Some(l) = layers {
                        p.layers = l;
                    }
                    if let Some(a) = promote {
                        p.auto_promote = a == "auto";
                    }
                    if let Some(m) = metrics {
                        p.metrics = if m.iter().any(|x| x.eq_ignore_ascii_case("all")) {
                            Vec::new()
                        } else {
                            m
                        };
                    }
                    let schema = schema.load()?;
                    retraining::check_policy_input(&schema, &p)
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    p = store.set_retrain_policy(&p, "cli").await?;
                    println!("retraining policy saved");
                }
                print_policy(&p);
            }
            M::Inspect { .. } | M::Export { .. } => unreachable!("handled in main"),
        }
        Ok(true)
    })
}
