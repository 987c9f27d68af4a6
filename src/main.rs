//! The `entra-ldap` binary: a thin command-line layer over the library.
//!
//! `demo` runs everything against a simulated tenant; `serve` is the production server;
//! `sync`, `user`, `binder`, `group` and `logs` are clients of a running server's admin API.

use clap::{Args, Parser, Subcommand};

/// jemalloc, with a background thread that hands freed pages back to the OS a second after
/// they fall free (.cargo/config.toml): start-up, sync runs and bursts of password hashing
/// leave peaks that glibc's malloc and mimalloc kept resident (see docs/benchmarks.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use entra_ldap::admin::cli_views;
use entra_ldap::admin::client::AdminClient;
use entra_ldap::admin::report;
use entra_ldap::app::App;
use entra_ldap::config::Config;
use entra_ldap::demo::{self, DemoOptions};
use entra_ldap::model::SyncOutcome;
use entra_ldap::simulator;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "entra-ldap",
    version,
    about = "LDAP/LDAPS directory server mirroring a Microsoft Entra ID tenant"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct ConfigArg {
    /// Path of the TOML configuration file (see docs/configuration.md).
    #[arg(long, short = 'c', env = "ENTRA_LDAP_CONFIG")]
    config: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run against a built-in simulated tenant: no Entra account needed.
    Demo {
        /// Generate a tenant of this many users (user0000…, password Secret-NNNN) instead of the small demo tenant.
        #[arg(long)]
        users: Option<usize>,
        /// Groups of the generated tenant (group0000…, ~20 members each).
        #[arg(long, default_value_t = 0)]
        groups: usize,
        #[arg(long, default_value = "127.0.0.1:1389")]
        ldap: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:1636")]
        ldaps: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:8080")]
        admin: SocketAddr,
        /// Keep state here (default: a fresh temporary directory removed on exit).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Hash the generated users' passwords at the configured (production) argon2id cost
        /// instead of a cheap one — slow to start, but binds then cost what they will in
        /// production (for benchmarks of cold binds).
        #[arg(long)]
        production_hashing: bool,
    },
    /// Run only the simulated Entra tenant (to point `serve` at it, or for benchmarks).
    Simulate {
        /// Generate a tenant of this many users instead of the small demo tenant.
        #[arg(long)]
        users: Option<usize>,
        #[arg(long, default_value_t = 0)]
        groups: usize,
        #[arg(long, default_value = "127.0.0.1:8990")]
        listen: SocketAddr,
    },
    /// Run the server with a configuration file.
    Serve(ConfigArg),
    /// Check a configuration file and exit.
    CheckConfig(ConfigArg),
    /// Trigger a sync on the running server, wait for it and print the outcome; or show or
    /// change the sync options (`sync settings`, `sync set`).
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Sync {
        /// Path of the TOML configuration file (see docs/configuration.md).
        #[arg(long, short = 'c', env = "ENTRA_LDAP_CONFIG")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: Option<SyncCommand>,
        /// Read the whole tenant even when a delta sync is possible.
        #[arg(long)]
        full: bool,
    },
    /// Manage users' LDAP passwords and SSH public keys on the running server.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage service accounts ("binders") on the running server.
    Binder {
        #[command(subcommand)]
        command: BinderCommand,
    },
    /// Show the synced groups (the console's Groups page).
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// Show the LDAP operation log or the audit trail (the console's Logs page).
    Logs {
        #[command(subcommand)]
        command: LogsCommand,
    },
}

#[derive(Subcommand)]
enum GroupCommand {
    /// List groups: cn, gidNumber, kind, member count, mail.
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// One group with its members (JSON).
    Show {
        #[command(flatten)]
        config: ConfigArg,
        cn: String,
    },
}

#[derive(Subcommand)]
enum LogsCommand {
    /// Recent LDAP operations, newest first (JSON, or CSV with --format csv).
    Ldap {
        #[command(flatten)]
        config: ConfigArg,
        /// Operation: bind, search, compare, extended, …
        #[arg(long)]
        op: Option<String>,
        /// LDAP result code (e.g. 49).
        #[arg(long)]
        result: Option<i64>,
        /// Substring of peer, bind DN, DN, message or detail.
        #[arg(long)]
        search: Option<String>,
        /// Only entries since this Unix time (seconds).
        #[arg(long)]
        since: Option<i64>,
        #[arg(long)]
        limit: Option<usize>,
        /// `json` (default) or `csv`.
        #[arg(long)]
        format: Option<String>,
    },
    /// The audit trail of admin actions, newest first (JSON, or CSV with --format csv).
    Audit {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(long)]
        limit: Option<usize>,
        /// `json` (default) or `csv`.
        #[arg(long)]
        format: Option<String>,
    },
}

#[derive(Subcommand)]
enum SyncCommand {
    /// Show the running and held runs and the run history (trigger, times, outcome,
    /// credential, Graph requests, changes, errors).
    Status {
        #[command(flatten)]
        config: ConfigArg,
        /// How many runs of the history to show.
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// Commit a run held by the deletion guard, exactly as it was held.
    Approve {
        #[command(flatten)]
        config: ConfigArg,
        run: u64,
    },
    /// Drop a run held by the deletion guard.
    Discard {
        #[command(flatten)]
        config: ConfigArg,
        run: u64,
    },
    /// Show every sync option: value, source (file, admin, default), editable.
    Settings {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Change one sync option at run time (not one the config file sets). VALUE is JSON
    /// (`true`, `120`, `'["VPN Users"]'`, `null` to reset) or else taken as a string.
    Set {
        #[command(flatten)]
        config: ConfigArg,
        key: String,
        value: String,
    },
    /// The credentials the sync may use, in the order tried, with when each last passed
    /// validation (the console's green check) and its last error.
    Credentials {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Remove a delegated authorization (the sync falls back to the next credential).
    Deauthorize {
        #[command(flatten)]
        config: ConfigArg,
        /// `primary` or `backup`.
        #[arg(long, default_value = "primary")]
        slot: String,
        /// `all`, `users`, `groups` or `domains`.
        #[arg(long, default_value = "all")]
        purpose: String,
    },
    /// "Authorize Account for User Sync": prints the URL an admin opens to authorize the
    /// sync to read Graph on their behalf (delegated, refresh token stored sealed).
    Authorize {
        #[command(flatten)]
        config: ConfigArg,
        /// `primary` or `backup`.
        #[arg(long, default_value = "primary")]
        slot: String,
        /// `all`, `users`, `groups` or `domains`.
        #[arg(long, default_value = "all")]
        purpose: String,
        /// Pre-fill the sign-in with this admin's userPrincipalName.
        #[arg(long)]
        login_hint: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Set a user's LDAP password, read from standard input.
    SetPassword {
        #[command(flatten)]
        config: ConfigArg,
        uid: String,
    },
    /// List synced users with status and, when inactive, why.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// `active` or `inactive`.
        #[arg(long)]
        status: Option<String>,
        /// Substring of uid, mail, UPN or display name.
        #[arg(long)]
        search: Option<String>,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// One user: status, groups, last bind and the entry as LDAP serves it (JSON).
    Show {
        #[command(flatten)]
        config: ConfigArg,
        uid: String,
    },
    /// Manage a user's SSH public keys (served over LDAP as sshPublicKey).
    SshKey {
        #[command(subcommand)]
        command: SshKeyCommand,
    },
}

#[derive(Subcommand)]
enum SshKeyCommand {
    /// Add a public key (one `.pub` line), read from --file or standard input.
    Add {
        #[command(flatten)]
        config: ConfigArg,
        uid: String,
        /// Read the key from this file (e.g. ~/.ssh/id_ed25519.pub) instead of standard input.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// List a user's keys: fingerprint, type, bits, comment.
    List {
        #[command(flatten)]
        config: ConfigArg,
        uid: String,
    },
    /// Remove a key by its fingerprint (SHA256:…, as `list` or `ssh-keygen -l` prints it).
    Remove {
        #[command(flatten)]
        config: ConfigArg,
        uid: String,
        fingerprint: String,
    },
}

#[derive(Subcommand)]
enum BinderCommand {
    /// Create a binder; prints its DN and a generated secret (shown once).
    Add {
        #[command(flatten)]
        config: ConfigArg,
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// A subtree (DN) the binder may read; repeat for several. None: the whole directory.
        #[arg(long)]
        scope: Vec<String>,
    },
    /// List binders.
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Generate a new secret for a binder (the old one stops working).
    Reset {
        #[command(flatten)]
        config: ConfigArg,
        name: String,
    },
    /// Remove a binder.
    Remove {
        #[command(flatten)]
        config: ConfigArg,
        name: String,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn load_config(arg: &ConfigArg) -> Result<Config, String> {
    Config::load(&arg.config).map_err(|e| e.to_string())
}

fn client(arg: &ConfigArg) -> Result<AdminClient, String> {
    Ok(AdminClient::from_config(&load_config(arg)?))
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Demo {
            users,
            groups,
            ldap,
            ldaps,
            admin,
            data_dir,
            production_hashing,
        } => {
            let options = DemoOptions {
                generated: users.map(|u| (u, groups)),
                ldap,
                ldaps,
                admin,
                data_dir,
                fast_hashing: users.is_some() && !production_hashing,
            };
            demo::run(options).await.map_err(|e| e.to_string())
        }
        Command::Simulate {
            users,
            groups,
            listen,
        } => {
            let tenant = match users {
                Some(users) => simulator::generated_tenant(users, groups),
                None => simulator::demo_tenant(),
            };
            let sim = simulator::start(tenant, listen)
                .await
                .map_err(|e| format!("cannot start the simulated tenant on {listen}: {e}"))?;
            println!("simulated tenant at {}", sim.url);
            println!("  [entra] tenant_id = \"{}\"", sim.tenant_id);
            println!("  [entra] client_id = \"{}\"", sim.client_id);
            println!("  [entra] client_secret = \"{}\"", sim.client_secret);
            println!("  [entra] authority_url = graph_url = \"{}\"", sim.url);
            entra_ldap::app::shutdown_signal().await;
            Ok(())
        }
        Command::Serve(arg) => {
            let config = load_config(&arg)?;
            let app = App::start(config).await.map_err(|e| e.to_string())?;
            app.run_until_signal().await;
            Ok(())
        }
        Command::CheckConfig(arg) => {
            load_config(&arg)?;
            println!("{}: OK", arg.config.display());
            Ok(())
        }
        Command::Sync {
            command: Some(command),
            ..
        } => sync_command(command).await,
        Command::Sync {
            config: None,
            command: None,
            ..
        } => Err("--config FILE is required (or set ENTRA_LDAP_CONFIG)".to_string()),
        Command::Sync {
            config: Some(config),
            command: None,
            full,
        } => {
            let client = client(&ConfigArg { config })?;
            let (id, started) = client
                .trigger_sync_with(full)
                .await
                .map_err(|e| e.to_string())?;
            if started {
                println!("Sync initiated successfully (run {id}); waiting for it to finish…");
            } else {
                println!("A sync is already running (run {id}); waiting for it to finish…");
            }
            let run = client
                .wait_run(id, Duration::from_secs(3600))
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string_pretty(&run).map_err(|e| e.to_string())?
            );
            match run.outcome {
                SyncOutcome::Succeeded => Ok(()),
                SyncOutcome::Failed => Err(format!(
                    "sync run {id} failed: {}",
                    run.error.unwrap_or_default()
                )),
                SyncOutcome::Running => Err(format!("sync run {id} still running after an hour")),
                SyncOutcome::Held => Err(format!(
                    "sync run {id} is held by the deletion guard: {}; approve or discard it",
                    run.error.unwrap_or_default()
                )),
                SyncOutcome::Discarded => Err(format!("sync run {id} was discarded")),
            }
        }
        Command::User {
            command: UserCommand::SetPassword { config, uid },
        } => {
            let client = client(&config)?;
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
            let password = password.trim_end_matches(['\r', '\n']);
            client
                .set_user_password(&uid, password)
                .await
                .map_err(|e| e.to_string())?;
            println!("LDAP password set for {uid}");
            Ok(())
        }
        Command::User {
            command:
                UserCommand::List {
                    config,
                    status,
                    search,
                    limit,
                },
        } => print_view(cli_views::user_list(&client(&config)?, status, search, limit).await),
        Command::User {
            command: UserCommand::Show { config, uid },
        } => print_view(cli_views::user_show(&client(&config)?, &uid).await),
        Command::User {
            command: UserCommand::SshKey { command },
        } => ssh_key_command(command).await,
        Command::Binder { command } => binder(command).await,
        Command::Group { command } => match command {
            GroupCommand::List { config } => {
                print_view(cli_views::group_list(&client(&config)?).await)
            }
            GroupCommand::Show { config, cn } => {
                print_view(cli_views::group_show(&client(&config)?, &cn).await)
            }
        },
        Command::Logs { command } => match command {
            LogsCommand::Ldap {
                config,
                op,
                result,
                search,
                since,
                limit,
                format,
            } => {
                let filter = cli_views::LdapLogFilter {
                    op,
                    result,
                    search,
                    since,
                    limit,
                    format,
                };
                print_view(cli_views::ldap_log(&client(&config)?, filter).await)
            }
            LogsCommand::Audit {
                config,
                limit,
                format,
            } => print_view(cli_views::audit_log(&client(&config)?, limit, format).await),
        },
    }
}

/// Prints a CLI view's text, or turns its error into the command's error.
fn print_view(view: Result<String, entra_ldap::admin::client::ClientError>) -> Result<(), String> {
    let text = view.map_err(|e| e.to_string())?;
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    Ok(())
}

async fn ssh_key_command(command: SshKeyCommand) -> Result<(), String> {
    match command {
        SshKeyCommand::Add { config, uid, file } => {
            let key = match file {
                Some(path) => std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
                None => {
                    let mut key = String::new();
                    std::io::stdin()
                        .read_to_string(&mut key)
                        .map_err(|e| format!("cannot read the key from standard input: {e}"))?;
                    key
                }
            };
            let view = client(&config)?
                .add_ssh_key(&uid, key.trim())
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "added {} ({} {} bits) to {uid}",
                view.fingerprint, view.algorithm, view.bits
            );
        }
        SshKeyCommand::List { config, uid } => {
            let answer = client(&config)?
                .list_ssh_keys(&uid)
                .await
                .map_err(|e| e.to_string())?;
            for key in answer.keys {
                println!(
                    "{}\t{}\t{}\t{}",
                    key.fingerprint,
                    key.algorithm,
                    key.bits,
                    key.comment.unwrap_or_default()
                );
            }
        }
        SshKeyCommand::Remove {
            config,
            uid,
            fingerprint,
        } => {
            client(&config)?
                .remove_ssh_key(&uid, &fingerprint)
                .await
                .map_err(|e| e.to_string())?;
            println!("removed {fingerprint} from {uid}");
        }
    }
    Ok(())
}

async fn sync_command(command: SyncCommand) -> Result<(), String> {
    match command {
        SyncCommand::Status { config, limit } => {
            let client = client(&config)?;
            let status = client.sync_status().await.map_err(|e| e.to_string())?;
            let runs = client
                .runs(limit.clamp(1, 1000))
                .await
                .map_err(|e| e.to_string())?;
            let running = status.get("running").and_then(serde_json::Value::as_u64);
            let held: Option<entra_ldap::model::SyncRun> = status
                .get("held")
                .cloned()
                .and_then(|v| serde_json::from_value(v).ok());
            print!("{}", report::status_report(running, held.as_ref(), &runs));
            Ok(())
        }
        SyncCommand::Approve { config, run } => {
            let client = client(&config)?;
            client
                .decide_held_run(run, true)
                .await
                .map_err(|e| e.to_string())?;
            println!("Run {run} approved; committing it…");
            let done = client
                .wait_run(run, Duration::from_secs(3600))
                .await
                .map_err(|e| e.to_string())?;
            print!("{}", report::runs_table(std::slice::from_ref(&done)));
            match done.outcome {
                SyncOutcome::Succeeded => Ok(()),
                _ => Err(format!(
                    "run {run} did not commit: {}",
                    done.error.unwrap_or_default()
                )),
            }
        }
        SyncCommand::Settings { config } => sync_settings(config, None).await,
        SyncCommand::Deauthorize {
            config,
            slot,
            purpose,
        } => {
            client(&config)?
                .remove_authorization(&slot, &purpose)
                .await
                .map_err(|e| e.to_string())?;
            println!("Delegated authorization {slot}/{purpose} removed");
            Ok(())
        }
        SyncCommand::Credentials { config } => {
            print_view(cli_views::credentials(&client(&config)?).await)
        }
        SyncCommand::Authorize {
            config,
            slot,
            purpose,
            login_hint,
        } => {
            let (url, redirect) = client(&config)?
                .authorize(&slot, &purpose, login_hint.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "Open this URL in a browser and sign in as the admin to authorize ({slot}, {purpose}):"
            );
            println!("{url}");
            println!(
                "(valid for 10 minutes; the app registration must list the redirect URI {redirect})"
            );
            Ok(())
        }
        SyncCommand::Set { config, key, value } => sync_settings(config, Some((key, value))).await,
        SyncCommand::Discard { config, run } => {
            let client = client(&config)?;
            client
                .decide_held_run(run, false)
                .await
                .map_err(|e| e.to_string())?;
            println!("Run {run} discarded; nothing of it was committed.");
            Ok(())
        }
    }
}

/// `sync settings` (`change: None`) or `sync set KEY VALUE`.
async fn sync_settings(config: ConfigArg, change: Option<(String, String)>) -> Result<(), String> {
    let answer = match change {
        None => client(&config)?.sync_settings().await,
        Some((key, value)) => {
            let value = serde_json::from_str(&value).unwrap_or(serde_json::Value::String(value));
            client(&config)?
                .patch_sync_settings(serde_json::json!({ key: value }))
                .await
        }
    }
    .map_err(|e| e.to_string())?;
    if let Some(options) = answer.get("options").and_then(|o| o.as_object()) {
        for (key, option) in options {
            let editable = if option["editable"] == true {
                ""
            } else {
                " (read-only)"
            };
            println!(
                "{key} = {}\t[{}]{editable}",
                option["value"],
                option["source"].as_str().unwrap_or("?")
            );
        }
    }
    for warning in answer["warnings"].as_array().into_iter().flatten() {
        println!("warning: {}", warning.as_str().unwrap_or_default());
    }
    if let Some(message) = answer["message"].as_str() {
        println!("{message}");
    }
    Ok(())
}

async fn binder(command: BinderCommand) -> Result<(), String> {
    match command {
        BinderCommand::Add {
            config,
            name,
            description,
            scope,
        } => {
            let view = client(&config)?
                .add_binder_with_scope(&name, description.as_deref(), &scope)
                .await
                .map_err(|e| e.to_string())?;
            println!("dn: {}", view.dn);
            println!("secret: {}", view.secret.unwrap_or_default());
            println!("(the secret is shown only once)");
        }
        BinderCommand::List { config } => {
            for view in client(&config)?
                .list_binders()
                .await
                .map_err(|e| e.to_string())?
            {
                let scope = if view.scope.is_empty() {
                    "whole directory".to_string()
                } else {
                    view.scope.join("; ")
                };
                println!("{}\t{}\t{scope}", view.name, view.dn);
            }
        }
        BinderCommand::Reset { config, name } => {
            let view = client(&config)?
                .reset_binder(&name)
                .await
                .map_err(|e| e.to_string())?;
            println!("dn: {}", view.dn);
            println!("secret: {}", view.secret.unwrap_or_default());
        }
        BinderCommand::Remove { config, name } => {
            client(&config)?
                .remove_binder(&name)
                .await
                .map_err(|e| e.to_string())?;
            println!("removed binder {name}");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
