//! `histoscore user`: accounts from the command line (the first administrator, password
//! resets, disabling).

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use histoscore_app::passwords;
use histoscore_store::{Role, StoreError, UserUpdate};

use crate::common::DataArgs;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create an account. The password is read from the terminal, or from
    /// HISTOSCORE_PASSWORD in scripts. Creating the first account turns on logins.
    Add {
        /// User name: letters, digits, '.', '_' or '-'.
        name: String,
        #[command(flatten)]
        role: RoleArg,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List accounts.
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Set a new password (ends the account's sessions).
    Passwd {
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Change an account's role.
    Role {
        name: String,
        #[command(flatten)]
        role: RoleArg,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Disable an account (it can no longer log in; its work is kept).
    Disable {
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Enable a disabled account.
    Enable {
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Lift the wait that failed logins put on an account (from every address).
    Unlock {
        name: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Args)]
pub struct RoleArg {
    /// viewer (reads), pathologist (also scores), admin (also manages users and studies).
    #[arg(long, value_parser = ["admin", "pathologist", "viewer"], env = "HISTOSCORE_ROLE")]
    role: String,
}

impl RoleArg {
    fn role(&self) -> Role {
        self.role.parse().expect("clap restricts the values")
    }
}

/// The new password: `HISTOSCORE_PASSWORD`, or asked twice on the terminal.
fn new_password(name: &str) -> Result<String> {
    let password = match std::env::var("HISTOSCORE_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            let p = rpassword::prompt_password(format!("Password for {name}: "))
                .context("could not read the password (set HISTOSCORE_PASSWORD in scripts)")?;
            let again =
                rpassword::prompt_password("Again: ").context("could not read the password")?;
            if p != again {
                bail!("the two passwords differ; nothing was changed");
            }
            p
        }
    };
    if let Some(problem) = passwords::password_problem(&password, name) {
        bail!("{problem}; nothing was changed");
    }
    Ok(passwords::hash_password(&password)?)
}

pub fn explain(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Refused(d) => anyhow::anyhow!("{d}; nothing was changed"),
        StoreError::Invalid { field, detail } => {
            anyhow::anyhow!("{field}: {detail}; nothing was changed")
        }
        other => anyhow::Error::new(other),
    }
}

pub fn run(cmd: UserCommand) -> Result<bool> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cmd {
            UserCommand::Add { name, role, data } => {
                histoscore_store::check_user_name(&name).map_err(explain)?;
                let store = data.open().await?;
                let first = !store.has_users().await?;
                let hash = new_password(&name)?;
                let u = store
                    .create_user(&name, role.role(), &hash)
                    .await
                    .map_err(explain)?;
                println!("created {} ({})", u.name, u.role);
                if first {
                    println!(
                        "accounts are now on: everyone logs in (restart a running server in \
                         single-user mode to apply this everywhere)"
                    );
                    if u.role != Role::Admin {
                        println!("note: there is no administrator yet; add one with --role admin");
                    }
                }
            }
            UserCommand::List { data } => {
                let store = data.open().await?;
                let users = store.list_users().await?;
                if users.is_empty() {
                    println!("no accounts (single-user mode)");
                }
                for u in users {
                    println!(
                        "{:<24} {:<12} {}{}",
                        u.name,
                        u.role.as_str(),
                        u.created_at.format("%Y-%m-%d"),
                        if u.disabled { "  disabled" } else { "" }
                    );
                }
            }
            UserCommand::Passwd { name, data } => {
                let store = data.open().await?;
                if store.user(&name).await?.is_none() {
                    bail!("there is no account named {name:?}");
                }
                let hash = new_password(&name)?;
                update(
                    &store,
                    &name,
                    UserUpdate {
                        password_hash: Some(hash),
                        ..Default::default()
                    },
                )
                .await?;
                println!("password of {name} changed; their sessions have ended");
            }
            UserCommand::Role { name, role, data } => {
                let store = data.open().await?;
                let u = update(
                    &store,
                    &name,
                    UserUpdate {
                        role: Some(role.role()),
                        ..Default::default()
                    },
                )
                .await?;
                println!("{} is now {}", u.name, u.role);
            }
            UserCommand::Disable { name, data } => {
                let store = data.open().await?;
                update(
                    &store,
                    &name,
                    UserUpdate {
                        disabled: Some(true),
                        ..Default::default()
                    },
                )
                .await?;
                println!("{name} is disabled");
            }
            UserCommand::Enable { name, data } => {
                let store = data.open().await?;
                update(
                    &store,
                    &name,
                    UserUpdate {
                        disabled: Some(false),
                        ..Default::default()
                    },
                )
                .await?;
                println!("{name} is enabled");
            }
            UserCommand::Unlock { name, data } => {
                let store = data.open().await?;
                if store.user(&name).await?.is_none() {
                    bail!("there is no account named {name:?}; nothing was changed");
                }
                store.clear_login_failures(&name).await?;
                println!("{name} can log in again at once (failed logins forgotten)");
            }
        }
        Ok(true)
    })
}

async fn update(
    store: &histoscore_store::Store,
    name: &str,
    u: UserUpdate,
) -> Result<histoscore_store::User> {
    store.update_user(name, &u).await.map_err(explain)
}
