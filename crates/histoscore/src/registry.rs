//! `histoscore model import|show|list|activate|rollback`: the model registry.

use anyhow::Result;
use histoscore_app::registry::import_file;

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
            M::Inspect { .. } | M::Export { .. } => unreachable!("handled in main"),
        }
        Ok(true)
    })
}
