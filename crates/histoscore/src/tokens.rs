//! `histoscore token`: API tokens for scripts, from the command line.

use anyhow::{bail, Result};
use clap::Subcommand;
use histoscore_app::passwords::{new_api_token, token_hash};
use histoscore_store::{ApiToken, Store};

use crate::common::DataArgs;

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token that acts as an account (with its role) in `Authorization: Bearer`
    /// headers. The token is printed once; only its hash is kept.
    Create {
        /// What it is for, e.g. "nightly export".
        #[arg(long, env = "HISTOSCORE_TOKEN_NAME")]
        name: String,
        /// The account it acts as. May be left out when there is only one account.
        #[arg(long, value_name = "ACCOUNT", env = "HISTOSCORE_USER")]
        user: Option<String>,
        /// Days until it stops working (default: until revoked).
        #[arg(long, value_name = "DAYS", env = "HISTOSCORE_TOKEN_DAYS",
              value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List tokens (of one account with --user): id, name, account, created, expires, last
    /// used, revoked.
    List {
        #[arg(long, value_name = "ACCOUNT", env = "HISTOSCORE_USER")]
        user: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Revoke a token by id (from `histoscore token list`): it stops working at once.
    Revoke {
        id: i64,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// The account a new token is for: the one named, or the only one there is.
async fn account(store: &Store, user: Option<String>) -> Result<String> {
    if let Some(u) = user {
        return Ok(u);
    }
    let users = store.list_users().await?;
    match users.as_slice() {
        [] => bail!(
            "there are no accounts: without accounts the API needs no token (create one with \
             `histoscore user add NAME --role admin` first)"
        ),
        [only] => Ok(only.name.clone()),
        _ => bail!(
            "say which account the token acts as: --user NAME (one of {})",
            users
                .iter()
                .map(|u| u.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn line(t: &ApiToken) -> String {
    let day = |d: Option<chrono::DateTime<chrono::Utc>>| {
        d.map_or("-".to_string(), |d| d.format("%Y-%m-%d %H:%M").to_string())
    };
    format!(
        "{:<5} {:<28} {:<16} created {}  expires {}  last used {}{}",
        t.id,
        t.name,
        t.user,
        day(Some(t.created_at)),
        day(t.expires_at),
        day(t.last_used_at),
        t.revoked_at.map_or(String::new(), |r| format!(
            "  REVOKED {}",
            r.format("%Y-%m-%d")
        ))
    )
}

pub fn run(cmd: TokenCommand) -> Result<bool> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cmd {
            TokenCommand::Create {
                name,
                user,
                expires_in_days,
                data,
            } => {
                let store = data.open().await?;
                let user = account(&store, user).await?;
                let token = new_api_token();
                let expires = expires_in_days
                    .map(|d| chrono::Utc::now() + chrono::Duration::days(i64::from(d)));
                let t = store
                    .create_token(&user, &name, &token_hash(&token), expires)
                    .await
                    .map_err(crate::users::explain)?;
                eprintln!(
                    "token {} ({:?}) acts as {}; it is shown only now — keep it in your \
                     script's secret store and send it as `Authorization: Bearer <token>`:",
                    t.id, t.name, t.user
                );
                println!("{token}");
            }
            TokenCommand::List { user, data } => {
                let store = data.open().await?;
                let tokens = store.list_tokens(user.as_deref()).await?;
                if tokens.is_empty() {
                    println!("no tokens");
                }
                for t in &tokens {
                    println!("{}", line(t));
                }
            }
            TokenCommand::Revoke { id, data } => {
                let store = data.open().await?;
                let t = store
                    .revoke_token(id, None)
                    .await
                    .map_err(crate::users::explain)?;
                println!("token {} ({:?}, {}) is revoked", t.id, t.name, t.user);
            }
        }
        Ok(true)
    })
}
