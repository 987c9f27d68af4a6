//! Access tokens for Graph, from a chain of credentials with automatic failover.
//!
//! Why a chain: the sync must keep working when one credential dies — an admin disabled,
//! consent revoked, a secret expired, a Conditional Access block. For each Graph read the
//! chain is: the primary slot (a delegated authorization for that purpose, else one for
//! `all`, else the `[entra]` app), then the backup slot (a delegated `backup`
//! authorization, then the `[entra.backup]` app). A credential the identity platform
//! refuses (or whose fresh token Graph refuses) is skipped for the rest of the run and the
//! next one is used; outages are not refusals and fail the run instead. Every run starts
//! again with the primary, so a fixed primary is picked up by itself.
//!
//! Why per purpose: users, groups and domains may be authorized separately (as on the Sync
//! page); the purpose is read from the Graph path, so the code that reads Graph does not
//! know about credentials at all. Tokens are cached until shortly before they expire.

use super::credentials::app::{AppRegistration, endpoint};
use super::credentials::delegated::{DelegatedCredential, DelegatedStore, delegated_scopes};
use super::credentials::failure::TokenFailure;
use super::error::SyncError;
use crate::config::EntraConfig;
use crate::model::{CredentialPurpose, CredentialSlot};
use crate::store::credentials::StoredAuthorization;
use oauth2::basic::BasicTokenResponse;
use oauth2::{AccessToken, TokenResponse};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Used when the token response has no `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// Refresh this long before expiry at most (Entra tokens live about an hour).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// The purposes a Graph path can have, in the order they are shown.
const PURPOSES: [CredentialPurpose; 4] = [
    CredentialPurpose::Users,
    CredentialPurpose::Groups,
    CredentialPurpose::Domains,
    CredentialPurpose::All,
];

/// Hands out a valid access token for each Graph read, choosing the credential.
pub struct TokenSource {
    http: reqwest::Client,
    /// `{graph}/.default`, for app-only tokens.
    app_scope: String,
    /// `offline_access` + Graph read scopes, for delegated refreshes.
    delegated_scopes: Vec<String>,
    primary_app: Arc<Credential>,
    backup_app: Option<Arc<Credential>>,
    /// The `[entra]` app, which redeems delegated authorizations.
    registration: Arc<AppRegistration>,
    delegated: Option<DelegatedStore>,
    /// Delegated credentials seen so far, kept across runs for their cached tokens.
    known: Mutex<Vec<Arc<Credential>>>,
    run: Mutex<RunState>,
}

/// One credential and its cached access token.
struct Credential {
    /// e.g. "primary: client secret (app …)", "backup: delegated admin2@example.com".
    label: String,
    kind: Kind,
    cached: tokio::sync::Mutex<Option<(AccessToken, Instant)>>,
}

enum Kind {
    App(Arc<AppRegistration>),
    Delegated(Box<DelegatedCredential>),
}

/// Which credentials this run tried and used.
#[derive(Default)]
struct RunState {
    /// The chain per purpose, built on first use in the run.
    chains: Option<Vec<(CredentialPurpose, Vec<Arc<Credential>>)>>,
    /// Labels refused this run, with why (in order).
    failures: Vec<(String, String)>,
    /// Labels that produced tokens, with the purposes they served.
    used: Vec<(String, CredentialPurpose)>,
    /// Labels whose token Graph refused once already in this run.
    strikes: Vec<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Credential {
    fn new(label: String, kind: Kind) -> Arc<Credential> {
        Arc::new(Credential {
            label,
            kind,
            cached: tokio::sync::Mutex::new(None),
        })
    }

    /// A token valid for a while yet; concurrent callers share one request.
    async fn token(
        &self,
        http: &reqwest::Client,
        app_scope: &str,
    ) -> Result<AccessToken, TokenFailure> {
        let mut cached = self.cached.lock().await;
        if let Some((token, refresh_at)) = cached.as_ref()
            && Instant::now() < *refresh_at
        {
            return Ok(token.clone());
        }
        let response: BasicTokenResponse = match &self.kind {
            Kind::App(app) => app.client_credentials(http, app_scope).await?,
            Kind::Delegated(d) => d.refresh(http).await?,
        };
        let lifetime = response.expires_in().unwrap_or(DEFAULT_LIFETIME);
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        let token = response.access_token().clone();
        *cached = Some((token.clone(), Instant::now() + lifetime - margin));
        Ok(token)
    }

    /// Forgets `token` if it is the cached one; returns whether it was.
    async fn forget(&self, token: &AccessToken) -> bool {
        let mut cached = self.cached.lock().await;
        let held = cached
            .as_ref()
            .is_some_and(|(t, _)| t.secret() == token.secret());
        if held {
            *cached = None;
        }
        held
    }
}

impl TokenSource {
    /// Prepares (does not yet request) tokens for `entra`'s app registrations.
    pub fn new(entra: &EntraConfig, http: reqwest::Client) -> Result<TokenSource, SyncError> {
        let registration = Arc::new(AppRegistration::new(
            &entra.client_id,
            &entra.client_secret,
            entra.client_certificate.as_ref(),
            &entra.authority_url,
            &entra.tenant_id,
        )?);
        let primary_app = Credential::new(
            format!("primary: {} (app {})", registration.kind(), entra.client_id),
            Kind::App(Arc::clone(&registration)),
        );
        let backup_app = match &entra.backup {
            Some(b) => {
                let app = AppRegistration::new(
                    &b.client_id,
                    &b.client_secret,
                    b.client_certificate.as_ref(),
                    &entra.authority_url,
                    &entra.tenant_id,
                )?;
                Some(Credential::new(
                    format!("backup: {} (app {})", app.kind(), b.client_id),
                    Kind::App(Arc::new(app)),
                ))
            }
            None => None,
        };
        Ok(TokenSource {
            http,
            app_scope: graph_scope(&entra.graph_url),
            delegated_scopes: delegated_scopes(&entra.graph_url),
            primary_app,
            backup_app,
            registration,
            delegated: None,
            known: Mutex::new(Vec::new()),
            run: Mutex::new(RunState::default()),
        })
    }

    /// Also uses the delegated authorizations kept in `source`.
    pub fn with_delegated(mut self, source: DelegatedStore) -> TokenSource {
        self.delegated = Some(source);
        self
    }

    /// Starts a run: the primary is tried first again, and the report is emptied.
    pub fn begin_run(&self) {
        *lock(&self.run) = RunState::default();
    }

    /// Which credential(s) this run used, and why the ones tried before failed.
    pub fn report(&self) -> (Option<String>, Vec<String>) {
        let st = lock(&self.run);
        let failures = st
            .failures
            .iter()
            .map(|(label, why)| format!("{label}: {why}"))
            .collect();
        let mut labels: Vec<(&str, Vec<CredentialPurpose>)> = Vec::new();
        for (label, purpose) in &st.used {
            match labels.iter_mut().find(|(l, _)| l == label) {
                Some((_, purposes)) if !purposes.contains(purpose) => purposes.push(*purpose),
                Some(_) => {}
                None => labels.push((label, vec![*purpose])),
            }
        }
        let used = match labels.as_slice() {
            [] => None,
            [(label, _)] => Some(label.to_string()),
            many => Some(
                many.iter()
                    .map(|(label, purposes)| {
                        let names: Vec<&str> = purposes.iter().map(|p| purpose_name(*p)).collect();
                        format!("{label} ({})", names.join(", "))
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        };
        (used, failures)
    }

    /// A token for reading `path` (e.g. `/v1.0/users`), from the first credential of its
    /// chain that the identity platform accepts.
    pub async fn get(&self, path: &str) -> Result<AccessToken, SyncError> {
        let purpose = purpose_of(path);
        loop {
            let Some(credential) = self.current(purpose) else {
                return Err(self.exhausted());
            };
            match credential.token(&self.http, &self.app_scope).await {
                Ok(token) => {
                    let mut st = lock(&self.run);
                    if !st
                        .used
                        .iter()
                        .any(|(l, p)| *l == credential.label && *p == purpose)
                    {
                        st.used.push((credential.label.clone(), purpose));
                    }
                    return Ok(token);
                }
                Err(failure) if failure.refused => {
                    tracing::warn!(credential = %credential.label, reason = %failure.text, "credential refused; trying the next one");
                    self.note_failed(&credential.label, failure.text);
                }
                Err(failure) => {
                    return Err(SyncError::Token(format!(
                        "{}: {}",
                        credential.label, failure.text
                    )));
                }
            }
        }
    }

    /// Graph refused `token` for `path` after a re-authentication (401 again, or 403
    /// access denied): the credential that issued it gets one more fresh token, then is
    /// skipped for the rest of the run. Returns whether a credential is left to try.
    pub async fn reject(&self, path: &str, token: &AccessToken, why: &str) -> bool {
        let purpose = purpose_of(path);
        if let Some(credential) = self.current(purpose)
            && credential.forget(token).await
        {
            // The token may have been cached before a revocation: the first refusal only
            // costs the credential its cached token; a refusal of a fresh one fails it.
            let struck = {
                let mut st = lock(&self.run);
                let struck = st.strikes.contains(&credential.label);
                if !struck {
                    st.strikes.push(credential.label.clone());
                }
                struck
            };
            if struck {
                tracing::warn!(credential = %credential.label, reason = %why, "Graph refused the credential's fresh token; trying the next one");
                self.note_failed(&credential.label, format!("Graph refused its token: {why}"));
            }
        }
        self.current(purpose).is_some()
    }

    /// Forgets `rejected` wherever it is cached (Graph refused it, e.g. after revocation);
    /// a newer token fetched by a concurrent request is kept.
    pub async fn invalidate(&self, rejected: &AccessToken) {
        let all: Vec<Arc<Credential>> = {
            let st = lock(&self.run);
            st.chains
                .iter()
                .flatten()
                .flat_map(|(_, chain)| chain.iter().cloned())
                .collect()
        };
        for credential in all {
            credential.forget(rejected).await;
        }
        self.primary_app.forget(rejected).await;
    }

    /// Records a refusal. A refused credential no longer counts as used in this run: its
    /// reads are retried with the next credential.
    fn note_failed(&self, label: &str, why: String) {
        let mut st = lock(&self.run);
        if !st.failures.iter().any(|(l, _)| l == label) {
            st.failures.push((label.to_string(), why));
        }
        st.used.retain(|(l, _)| l != label);
    }

    /// The first credential of `purpose`'s chain not refused in this run.
    fn current(&self, purpose: CredentialPurpose) -> Option<Arc<Credential>> {
        let mut st = lock(&self.run);
        if st.chains.is_none() {
            st.chains = Some(self.build_chains());
        }
        let RunState {
            chains, failures, ..
        } = &*st;
        chains
            .iter()
            .flatten()
            .find(|(p, _)| *p == purpose)
            .and_then(|(_, chain)| {
                chain
                    .iter()
                    .find(|c| !failures.iter().any(|(l, _)| *l == c.label))
                    .cloned()
            })
    }

    /// Why the run cannot get a token: every credential was refused.
    fn exhausted(&self) -> SyncError {
        let (_, failures) = self.report();
        let backup = if self.backup_app.is_some() || failures.len() > 1 {
            ""
        } else {
            " (no backup credential is configured)"
        };
        SyncError::Token(format!(
            "every credential was refused{backup}: {}",
            failures.join("; ")
        ))
    }

    /// The chain for each purpose from the configuration and the stored authorizations.
    fn build_chains(&self) -> Vec<(CredentialPurpose, Vec<Arc<Credential>>)> {
        let stored = match &self.delegated {
            Some(source) => source.store.list_authorizations().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read delegated authorizations; using app credentials only");
                Vec::new()
            }),
            None => Vec::new(),
        };
        PURPOSES
            .iter()
            .map(|&purpose| {
                let pick = |slot: CredentialSlot| {
                    let find = |p: CredentialPurpose| {
                        stored
                            .iter()
                            .find(|a| a.info.slot == slot && a.info.purpose == p)
                    };
                    find(purpose).or_else(|| find(CredentialPurpose::All))
                };
                let mut chain = Vec::new();
                match pick(CredentialSlot::Primary) {
                    Some(a) => chain.push(self.delegated_credential(a)),
                    None => chain.push(Arc::clone(&self.primary_app)),
                }
                if let Some(a) = pick(CredentialSlot::Backup) {
                    chain.push(self.delegated_credential(a));
                }
                if let Some(b) = &self.backup_app {
                    chain.push(Arc::clone(b));
                }
                chain.dedup_by(|a, b| a.label == b.label);
                (purpose, chain)
            })
            .collect()
    }

    /// The credential for a stored authorization, reusing the one (and its cached token)
    /// made for the same authorization earlier.
    fn delegated_credential(&self, stored: &StoredAuthorization) -> Arc<Credential> {
        let info = &stored.info;
        let mut known = lock(&self.known);
        if let Some(existing) = known.iter().find(|c| match &c.kind {
            Kind::Delegated(d) => {
                d.slot == info.slot && d.purpose == info.purpose && d.id == stored.id
            }
            Kind::App(_) => false,
        }) {
            return Arc::clone(existing);
        }
        let slot = match info.slot {
            CredentialSlot::Primary => "primary",
            CredentialSlot::Backup => "backup",
        };
        let scope = match info.purpose {
            CredentialPurpose::All => String::new(),
            p => format!(" for {}", purpose_name(p)),
        };
        let Some(source) = self.delegated.clone() else {
            return Arc::clone(&self.primary_app);
        };
        let credential = Credential::new(
            format!("{slot}: delegated {}{scope}", info.who),
            Kind::Delegated(Box::new(DelegatedCredential {
                slot: info.slot,
                purpose: info.purpose,
                who: info.who.clone(),
                id: stored.id.clone(),
                app: Arc::clone(&self.registration),
                source,
                scopes: self.delegated_scopes.clone(),
            })),
        );
        known.retain(|c| match &c.kind {
            Kind::Delegated(d) => !(d.slot == info.slot && d.purpose == info.purpose),
            Kind::App(_) => true,
        });
        known.push(Arc::clone(&credential));
        credential
    }
}

/// The purpose of a Graph read from its path: the segment after `v1.0`.
pub fn purpose_of(path: &str) -> CredentialPurpose {
    let mut segments = path.split('/').skip_while(|s| *s != "v1.0").skip(1);
    match segments.next().map(str::to_ascii_lowercase).as_deref() {
        Some(s) if s.starts_with("users") => CredentialPurpose::Users,
        Some(s) if s.starts_with("groups") => CredentialPurpose::Groups,
        Some(s) if s.starts_with("domains") => CredentialPurpose::Domains,
        _ => CredentialPurpose::All,
    }
}

fn purpose_name(purpose: CredentialPurpose) -> &'static str {
    match purpose {
        CredentialPurpose::All => "all",
        CredentialPurpose::Users => "users",
        CredentialPurpose::Groups => "groups",
        CredentialPurpose::Domains => "domains",
    }
}

/// `{authority}/{tenant}/oauth2/v2.0/token`, with the tenant as one escaped path segment.
pub fn token_url(authority: &url::Url, tenant: &str) -> Result<url::Url, SyncError> {
    endpoint(authority, tenant, "token")
}

/// The `.default` scope of the Graph resource: its origin plus `/.default`
/// (`https://graph.microsoft.com/.default` for Microsoft).
pub fn graph_scope(graph_url: &url::Url) -> String {
    format!("{}/.default", graph_url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_url_and_scope() {
        let a = url::Url::parse("https://login.microsoftonline.com/").unwrap();
        assert_eq!(
            token_url(&a, "contoso.com").unwrap().as_str(),
            "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token"
        );
        let a = url::Url::parse("http://127.0.0.1:8000").unwrap();
        assert_eq!(
            token_url(&a, "a/b").unwrap().as_str(),
            "http://127.0.0.1:8000/a%2Fb/oauth2/v2.0/token"
        );
        let g = url::Url::parse("https://graph.microsoft.com/").unwrap();
        assert_eq!(graph_scope(&g), "https://graph.microsoft.com/.default");
        let g = url::Url::parse("http://127.0.0.1:8000/").unwrap();
        assert_eq!(graph_scope(&g), "http://127.0.0.1:8000/.default");
    }

    #[test]
    fn purposes_come_from_the_graph_path() {
        assert_eq!(purpose_of("/v1.0/users"), CredentialPurpose::Users);
        assert_eq!(purpose_of("/v1.0/users/delta"), CredentialPurpose::Users);
        assert_eq!(
            purpose_of("/prefix/v1.0/groups/x/members"),
            CredentialPurpose::Groups
        );
        assert_eq!(purpose_of("/v1.0/domains"), CredentialPurpose::Domains);
        assert_eq!(purpose_of("/v1.0/$batch"), CredentialPurpose::All);
        assert_eq!(purpose_of("/v1.0/me"), CredentialPurpose::All);
        assert_eq!(purpose_of("/other"), CredentialPurpose::All);
    }
}
