//! Browser flows waiting for their callback, keyed by their single-use `state`.
//!
//! Why one type: the delegated "Authorize Account" flow and signing in with Microsoft both
//! send a browser to the identity platform with a random `state` and keep what the callback
//! needs (the PKCE verifier, a nonce) in memory for a few minutes. The same rules hold for
//! both: a state is redeemable once, only within its lifetime, and at most [`MAX_PENDING`]
//! flows are kept (the oldest dropped first), so abandoned flows cannot grow memory.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Unfinished flows kept at most (older ones are dropped first).
pub const MAX_PENDING: usize = 64;

/// Flows waiting for their callback, each carrying a `T`.
pub struct PendingFlows<T> {
    lifetime: Duration,
    capacity: usize,
    entries: Mutex<HashMap<String, (Instant, T)>>,
}

impl<T> PendingFlows<T> {
    /// Flows whose state is redeemable for `lifetime`, at most [`MAX_PENDING`].
    pub fn new(lifetime: Duration) -> PendingFlows<T> {
        PendingFlows::with_capacity(lifetime, MAX_PENDING)
    }

    /// Flows whose state is redeemable for `lifetime`, at most `capacity` at once.
    pub fn with_capacity(lifetime: Duration, capacity: usize) -> PendingFlows<T> {
        PendingFlows {
            lifetime,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, (Instant, T)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers `value` under `state`, forgetting expired flows and, beyond the
    /// capacity, the oldest.
    pub fn insert(&self, state: String, value: T) {
        let mut entries = self.lock();
        entries.retain(|_, (created, _)| created.elapsed() < self.lifetime);
        if entries.len() >= self.capacity
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (created, _))| *created)
                .map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(state, (Instant::now(), value));
    }

    /// The flow of `state`, removed (single use); `None` when unknown, used or expired.
    pub fn take(&self, state: &str) -> Option<T> {
        let (created, value) = self.lock().remove(state)?;
        (created.elapsed() < self.lifetime).then_some(value)
    }
}

/// Why a callback from the identity platform cannot go on. Each flow words it for its
/// audience (an API client, a person at a browser).
#[derive(Debug, PartialEq, Eq)]
pub enum CallbackRefusal {
    /// The `state` is unknown, expired or already used.
    UnknownState,
    /// The platform sent an error instead of a code: `(error, first line of its description)`.
    Refused(String, String),
    /// Neither a code nor an error.
    NoCode,
}

impl<T> PendingFlows<T> {
    /// Checks a callback in the order that matters: its `state` names a pending flow (taken,
    /// so it cannot be replayed), the platform did not refuse, and a code came back.
    pub fn redeem_callback<'p>(
        &self,
        params: &'p super::authorize::CallbackParams,
    ) -> Result<(T, &'p str), CallbackRefusal> {
        let flow = self
            .take(params.state.as_deref().unwrap_or(""))
            .ok_or(CallbackRefusal::UnknownState)?;
        if let Some(error) = &params.error {
            let description = params
                .error_description
                .as_deref()
                .and_then(|d| d.lines().next())
                .unwrap_or("");
            return Err(CallbackRefusal::Refused(
                error.clone(),
                description.to_string(),
            ));
        }
        let code = params
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or(CallbackRefusal::NoCode)?;
        Ok((flow, code))
    }
}

/// What both browser flows build from `[entra]`: the app registration (or why it cannot be
/// built, reported when a flow starts), an HTTP client with the request timeout that does
/// not follow redirects, and the callback URL `public_url` + `callback_path`.
pub struct FlowSetup {
    pub app: Result<crate::sync::credentials::app::AppRegistration, String>,
    pub http: reqwest::Client,
    pub redirect: oauth2::RedirectUrl,
}

impl FlowSetup {
    pub fn new(
        entra: &crate::config::EntraConfig,
        public_url: &url::Url,
        callback_path: &str,
    ) -> FlowSetup {
        let app = crate::sync::credentials::app::AppRegistration::new(
            &entra.client_id,
            &entra.client_secret,
            entra.client_certificate.as_ref(),
            &entra.authority_url,
            &entra.tenant_id,
        )
        .map_err(|e| e.to_string());
        let mut callback = public_url.clone();
        callback.set_path(callback_path);
        callback.set_query(None);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(entra.request_timeout_secs.max(1)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        FlowSetup {
            app,
            http,
            redirect: oauth2::RedirectUrl::from_url(callback),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_single_use_expire_and_are_bounded() {
        let flows = PendingFlows::new(Duration::from_secs(60));
        flows.insert("s1".into(), 1);
        assert_eq!(flows.take("s1"), Some(1));
        assert_eq!(flows.take("s1"), None, "single use");
        assert_eq!(flows.take("unknown"), None);
        for i in 0..=MAX_PENDING {
            flows.insert(format!("k{i}"), i);
        }
        assert_eq!(flows.take("k0"), None, "the oldest was dropped");
        assert_eq!(flows.take(&format!("k{MAX_PENDING}")), Some(MAX_PENDING));

        let short = PendingFlows::new(Duration::from_millis(20));
        short.insert("s".into(), ());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(short.take("s"), None, "expired");
    }
}
