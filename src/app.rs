//! Wires config → store → directory → LDAP listener, sync worker and admin API.
//!
//! Why: the binary, the demo and the integration tests all start the same server; keeping the
//! wiring in one function means tests exercise exactly what production runs. Listeners are
//! bound before anything is spawned, so a port clash fails start-up with a clear error and
//! tests can ask for port 0 and read the real addresses back.

use crate::admin;
use crate::auth::Credentials;
use crate::config::Config;
use crate::directory::{DirectorySettings, LiveDirectory};
use crate::ldap::{self, LdapContext};
use crate::store::{Store, StoreError};
use crate::sync::SyncService;
use crate::sync::settings::{InactiveUsers, SettingsSource};
use crate::tls::{self, TlsError};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {what} {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
}

/// Everything the admin API needs, shared by its handlers.
pub struct Services {
    pub store: Store,
    pub live: Arc<LiveDirectory>,
    pub credentials: Credentials,
    pub sync: SyncService,
    pub admin_token: crate::config::Secret,
    /// The delegated authorization flow ("Authorize Account for User Sync").
    pub authorizer: Arc<crate::admin::authorize::Authorizer>,
    /// `[entra]`, for listing the configured credentials.
    pub entra: crate::config::EntraConfig,
    /// Signing people in with Microsoft (console and self-service page).
    pub microsoft_sign_in: Arc<crate::admin::oidc::MicrosoftSignIn>,
    /// `[admin] admin_group` / `admins`: who of those gets the console.
    pub admin_access: crate::config::AdminAccess,
    /// Where LDAP clients connect, for the self-service page's instructions.
    pub ldap_endpoints: LdapEndpoints,
}

/// The LDAP listeners as clients should address them.
#[derive(Clone, Debug)]
pub struct LdapEndpoints {
    /// Host name or address clients use (`[admin] public_url`'s host when set, else the
    /// listener's address).
    pub host: String,
    pub ldap_port: Option<u16>,
    pub ldaps_port: Option<u16>,
}

impl LdapEndpoints {
    fn of(config: &Config, ldap: Option<SocketAddr>, ldaps: Option<SocketAddr>) -> LdapEndpoints {
        let listener_host = ldap
            .or(ldaps)
            .map(|a| a.ip())
            .filter(|ip| !ip.is_unspecified())
            .map(|ip| match ip {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                v4 => v4.to_string(),
            });
        let host = config
            .admin
            .public_url
            .as_ref()
            .and_then(|u| u.host_str().map(str::to_string))
            .or(listener_host)
            .unwrap_or_else(|| "this-server".to_string());
        LdapEndpoints {
            host,
            ldap_port: ldap.map(|a| a.port()),
            ldaps_port: ldaps.map(|a| a.port()),
        }
    }
}

impl Services {
    /// Re-reads the committed directory and publishes a new snapshot (after an admin change
    /// that affects entries, such as adding a binder).
    pub fn republish(&self) -> Result<(), StoreError> {
        let data = self.store.load_directory()?;
        self.live.publish(&data);
        drop(data);
        self.store.release_memory();
        Ok(())
    }
}

/// A running server.
pub struct App {
    pub services: Arc<Services>,
    /// Actual bound addresses (useful when the config asked for port 0).
    pub ldap_addr: Option<SocketAddr>,
    pub ldaps_addr: Option<SocketAddr>,
    pub admin_addr: SocketAddr,
    /// SHA-256 fingerprint and path of the served certificate.
    pub tls_fingerprint: String,
    pub tls_cert_path: std::path::PathBuf,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { what, addr, source })
}

async fn bind_optional(
    what: &'static str,
    addr: Option<SocketAddr>,
) -> Result<Option<TcpListener>, StartError> {
    match addr {
        Some(addr) => Ok(Some(bind(what, addr).await?)),
        None => Ok(None),
    }
}

/// The snapshot settings implied by the configuration and the effective sync options.
fn directory_settings(config: &Config, sync: &SettingsSource) -> DirectorySettings {
    DirectorySettings {
        base_dn: config.base_dn.clone(),
        show_inactive_users: sync.current().inactive_users == InactiveUsers::Show,
        home_directory: config.directory.home_directory.clone(),
        login_shell: config.directory.login_shell.clone(),
        supported_controls: ldap::supported_controls(),
        supported_extensions: ldap::supported_extensions(),
        vendor_version: env!("CARGO_PKG_VERSION").to_string(),
        bind_by_uid: config.ldap.bind_by_uid,
        bind_by_mail: config.ldap.bind_by_mail,
        bind_by_upn: config.ldap.bind_by_upn,
    }
}

impl App {
    /// Opens the store, loads the last committed directory, binds all listeners and starts
    /// serving, syncing and the admin API. Returns once everything listens.
    pub async fn start(config: Config) -> Result<App, StartError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let store = Store::open(&config.data_dir.join("store"))?;
        let sync_settings = SettingsSource::open(config.sync.clone(), &store)?;
        let data = store.load_directory()?;
        let live = Arc::new(LiveDirectory::new(
            &data,
            directory_settings(&config, &sync_settings),
        ));
        // Everything was read once; the snapshot now serves it (see Store::release_memory).
        drop(data);
        store.release_memory();
        tracing::info!(
            entries = live.load().len(),
            base = live.load().base_dn(),
            "loaded last committed directory"
        );

        let identity = tls::load_or_generate(
            config.ldap.tls_cert.as_deref(),
            config.ldap.tls_key.as_deref(),
            &config.data_dir,
        )?;
        tracing::info!(fingerprint = %identity.fingerprint, cert = %identity.cert_path.display(), "TLS certificate (SHA-256)");

        // HTTPS off loopback (or when configured): see config/admin_tls.rs and admin/tls.rs.
        let admin_tls = if config.admin.transport.is_tls() {
            Some(admin::tls::server_config(
                &config.admin.transport,
                &identity,
                &config.data_dir,
            )?)
        } else {
            None
        };

        let plain = bind_optional("LDAP", config.ldap.listen).await?;
        let secure = bind_optional("LDAPS", config.ldap.ldaps_listen).await?;
        let admin_listener = bind("admin API", config.admin.listen).await?;
        let ldap_addr = plain.as_ref().and_then(|l| l.local_addr().ok());
        let ldaps_addr = secure.as_ref().and_then(|l| l.local_addr().ok());
        let admin_addr = admin_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                what: "admin API",
                addr: config.admin.listen,
                source,
            })?;

        let shutdown = CancellationToken::new();
        let credentials = Credentials::new(store.clone(), &config.auth);
        let secrets = crate::secrets::SecretBox::open_or_create(&config.secret_key_path())?;
        let admin_scheme = config.admin.transport.scheme();
        let public_url = config.admin.public_url.clone().unwrap_or_else(|| {
            url::Url::parse(&format!("{admin_scheme}://{admin_addr}"))
                .unwrap_or_else(|_| config.entra.graph_url.clone())
        });
        let authorizer = Arc::new(crate::admin::authorize::Authorizer::new(
            &config.entra,
            &public_url,
            store.clone(),
            secrets.clone(),
        ));
        let microsoft_sign_in = Arc::new(crate::admin::oidc::MicrosoftSignIn::new(
            &config.entra,
            &public_url,
        ));
        let sync = SyncService::start_with_settings(
            config.entra.clone(),
            config.directory.clone(),
            store.clone(),
            live.clone(),
            sync_settings,
            shutdown.child_token(),
            Some(secrets),
        );
        let services = Arc::new(Services {
            store,
            live: live.clone(),
            credentials: credentials.clone(),
            sync,
            admin_token: config.admin.token.clone(),
            authorizer,
            entra: config.entra.clone(),
            microsoft_sign_in,
            admin_access: config.admin.access.clone(),
            ldap_endpoints: LdapEndpoints::of(&config, ldap_addr, ldaps_addr),
        });

        let mut tasks = JoinSet::new();
        let ctx = Arc::new(LdapContext {
            directory: live,
            credentials,
            tls: identity.config.clone(),
            config: config.ldap.clone(),
        });
        let ldap_shutdown = shutdown.child_token();
        tasks.spawn(async move {
            if let Err(error) = ldap::serve(plain, secure, ctx, ldap_shutdown).await {
                tracing::error!(%error, "LDAP listener stopped");
            }
        });
        let admin_shutdown = shutdown.child_token();
        let admin_services = services.clone();
        tasks.spawn(async move {
            let served = match admin_tls {
                Some(tls) => {
                    admin::tls::serve_https(admin_listener, tls, admin_services, admin_shutdown)
                        .await
                }
                None => admin::api::serve(admin_listener, admin_services, admin_shutdown).await,
            };
            if let Err(error) = served {
                tracing::error!(%error, "admin API stopped");
            }
        });
        if let Some(addr) = ldap_addr {
            tracing::info!(%addr, "LDAP listening (StartTLS available)");
        }
        if let Some(addr) = ldaps_addr {
            tracing::info!(%addr, "LDAPS listening");
        }
        tracing::info!(addr = %admin_addr, scheme = admin_scheme, "admin API listening");

        Ok(App {
            services,
            ldap_addr,
            ldaps_addr,
            admin_addr,
            tls_fingerprint: identity.fingerprint,
            tls_cert_path: identity.cert_path,
            shutdown,
            tasks,
        })
    }

    /// A token that stops the whole server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops accepting, lets in-flight work finish briefly, and waits for every task.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
    }

    /// Runs until SIGINT/SIGTERM (or the shutdown token), then shuts down gracefully.
    pub async fn run_until_signal(self) {
        let token = self.shutdown.clone();
        tokio::select! {
            _ = shutdown_signal() => tracing::info!("shutdown requested by signal"),
            _ = token.cancelled() => {}
        }
        self.shutdown().await;
        tracing::info!("stopped");
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
