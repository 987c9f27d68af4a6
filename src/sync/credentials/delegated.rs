//! A delegated credential: an admin's refresh token, redeemed for access tokens on behalf
//! of that admin, with refresh-token rotation persisted.
//!
//! Why persisted before use: the identity platform returns a new refresh token with every
//! access token (graph.md §1.4). The new one is sealed and flushed to the store before the
//! old one is dropped, so a crash between the two can never leave us holding only a token
//! we have not saved.

use super::app::AppRegistration;
use super::failure::TokenFailure;
use crate::model::{CredentialPurpose, CredentialSlot, now};
use crate::secrets::SecretBox;
use crate::store::Store;
use crate::store::credentials::sealing_context;
use oauth2::TokenResponse;
use oauth2::basic::BasicTokenResponse;
use std::sync::Arc;

/// Where delegated authorizations live: the store, and the key that seals their tokens.
#[derive(Clone)]
pub struct DelegatedStore {
    pub store: Store,
    pub secrets: SecretBox,
}

/// The Graph read scopes a delegated authorization asks for, plus `offline_access` (for a
/// refresh token), on the Graph resource at `graph_url`.
pub fn delegated_scopes(graph_url: &url::Url) -> Vec<String> {
    let origin = graph_url.origin().ascii_serialization();
    let mut scopes = vec!["offline_access".to_string()];
    scopes.extend(
        ["User.Read.All", "GroupMember.Read.All", "Domain.Read.All"]
            .iter()
            .map(|p| format!("{origin}/{p}")),
    );
    scopes
}

/// One stored authorization, used through the app registration that owns it.
pub struct DelegatedCredential {
    pub slot: CredentialSlot,
    pub purpose: CredentialPurpose,
    pub who: String,
    /// The stored authorization's id (see `StoredAuthorization::id`).
    pub id: String,
    pub app: Arc<AppRegistration>,
    pub source: DelegatedStore,
    pub scopes: Vec<String>,
}

impl DelegatedCredential {
    /// Redeems the stored refresh token and persists the rotated one; the access token
    /// response is returned. The record's `validated_at` (on success) or `last_error` (on a
    /// refusal) is updated so the credentials list shows the state; outages change nothing.
    pub async fn refresh(
        &self,
        http: &reqwest::Client,
    ) -> Result<BasicTokenResponse, TokenFailure> {
        let result = self.refresh_inner(http).await;
        let outcome = match &result {
            Ok(_) => Some(None),
            Err(f) if f.refused => Some(Some(f.text.clone())),
            Err(_) => None,
        };
        if let Some(error) = outcome {
            let noted = self.update(move |r| {
                if error.is_none() {
                    r.info.validated_at = Some(now());
                }
                r.info.last_error = error.clone();
            });
            if let Err(e) = noted.await {
                tracing::warn!(error = %e, "cannot record the authorization's state");
            }
        }
        result
    }

    /// Applies `change` to this authorization's record off the async threads (the store
    /// flushes to disk).
    async fn update(
        &self,
        change: impl Fn(&mut crate::store::credentials::StoredAuthorization) + Send + 'static,
    ) -> Result<bool, String> {
        let store = self.source.store.clone();
        let (slot, purpose, id) = (self.slot, self.purpose, self.id.clone());
        tokio::task::spawn_blocking(move || store.update_authorization(slot, purpose, &id, change))
            .await
            .map_err(|e| format!("store task failed: {e}"))?
            .map_err(|e| e.to_string())
    }

    async fn refresh_inner(
        &self,
        http: &reqwest::Client,
    ) -> Result<BasicTokenResponse, TokenFailure> {
        let context = sealing_context(self.slot, self.purpose);
        let store = &self.source.store;
        let record = store
            .get_authorization(self.slot, self.purpose)
            .map_err(|e| TokenFailure::other(format!("store: {e}")))?
            .filter(|r| r.id == self.id)
            .ok_or_else(|| TokenFailure::refused("the authorization was removed or replaced"))?;
        let refresh_token = self
            .source
            .secrets
            .open(&context, &record.sealed_refresh_token)
            .map_err(|e| TokenFailure::refused(e.to_string()))?;
        let response = self.app.refresh(http, &refresh_token, &self.scopes).await?;
        if let Some(rotated) = response.refresh_token() {
            let sealed = self
                .source
                .secrets
                .seal(&context, rotated.secret())
                .map_err(|e| TokenFailure::other(e.to_string()))?;
            self.update(move |r| r.sealed_refresh_token = sealed.clone())
                .await
                .map_err(|e| {
                    TokenFailure::other(format!("cannot persist the rotated refresh token: {e}"))
                })?;
        }
        // `refresh_token` (the old one) is dropped only now, after the new one is on disk.
        drop(refresh_token);
        Ok(response)
    }
}
