//! The `entra-ldap` binary: a thin command-line layer over the library.
//!
//! `demo` runs everything against a simulated tenant; `serve` is the production server;
//! `sync`, `user` and `binder` are clients of a running server's admin API.

use clap::{Args, Parser, Subcommand};

/// mimalloc returns freed memory to the OS far more readily than glibc's malloc under the
/// allocate-build-free pattern of snapshot rebuilds and password hashing (see docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use entra_ldap::admin::client::AdminClient;
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
    /// Trigger a sync on the running server, wait for it and print the outcome.
    Sync {
        #[command(flatten)]
        config: ConfigArg,
        /// Read the whole tenant even when a delta sync is possible.
        #[arg(long)]
        full: bool,
    },
    /// Manage users' LDAP passwords on the running server.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage service accounts ("binders") on the running server.
    Binder {
        #[command(subcommand)]
        command: BinderCommand,
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
        } => {
            let options = DemoOptions {
                generated: users.map(|u| (u, groups)),
                ldap,
                ldaps,
                admin,
                data_dir,
                fast_hashing: users.is_some(),
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
        Command::Sync { config: arg, full } => {
            let client = client(&arg)?;
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
        Command::Binder { command } => binder(command).await,
    }
}

async fn binder(command: BinderCommand) -> Result<(), String> {
    match command {
        BinderCommand::Add {
            config,
            name,
            description,
        } => {
            let view = client(&config)?
                .add_binder(&name, description.as_deref())
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
                println!("{}\t{}", view.name, view.dn);
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
