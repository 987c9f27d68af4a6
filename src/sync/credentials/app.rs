//! One app registration's OAuth client: the client-credentials grant (app-only tokens), and
//! the confidential-client half of the delegated flow (redeeming a code, refreshing).
//!
//! Why one type for both: every grant authenticates the app the same way — its client
//! secret, or a freshly signed certificate assertion (graph.md §1.2-1.3) — so the choice is
//! made once here and the grants do not care which it is.

use super::assertion::{ASSERTION_TYPE, AssertionSigner};
use super::failure::{TokenFailure, classify};
use crate::config::{ClientCertificate, Secret};
use crate::sync::error::SyncError;
use oauth2::basic::{BasicClient, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, TokenUrl,
};
use std::borrow::Cow;

/// The oauth2 client with the authorize and token endpoints set.
pub type OAuthClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The OpenID Connect field of a token response (present when `openid` was granted).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct IdTokenField {
    pub id_token: Option<String>,
}

impl oauth2::ExtraTokenFields for IdTokenField {}

/// A token response that keeps the `id_token` (the basic one drops it).
pub type SignInTokenResponse =
    oauth2::StandardTokenResponse<IdTokenField, oauth2::basic::BasicTokenType>;

/// An oauth2 client whose token responses keep the `id_token` (signing people in).
type SignInClient<HasTokenUrl = EndpointNotSet> = oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    SignInTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    HasTokenUrl,
>;

/// How the app proves who it is.
#[derive(Clone, Debug)]
pub enum ClientAuth {
    Secret(Secret),
    Certificate(AssertionSigner),
}

/// An app registration (client id + credential) at one tenant's endpoints.
#[derive(Clone, Debug)]
pub struct AppRegistration {
    pub client_id: String,
    auth: ClientAuth,
    client: OAuthClient,
    token_url: url::Url,
}

/// Token requests that can carry extra form parameters (the client assertion).
trait ExtraParams: Sized {
    fn extra(self, name: &'static str, value: String) -> Self;
}

impl ExtraParams
    for oauth2::ClientCredentialsTokenRequest<
        '_,
        oauth2::basic::BasicErrorResponse,
        BasicTokenResponse,
    >
{
    fn extra(self, name: &'static str, value: String) -> Self {
        self.add_extra_param(name, value)
    }
}

impl ExtraParams
    for oauth2::RefreshTokenRequest<'_, oauth2::basic::BasicErrorResponse, BasicTokenResponse>
{
    fn extra(self, name: &'static str, value: String) -> Self {
        self.add_extra_param(name, value)
    }
}

impl<TR: oauth2::TokenResponse> ExtraParams
    for oauth2::CodeTokenRequest<'_, oauth2::basic::BasicErrorResponse, TR>
{
    fn extra(self, name: &'static str, value: String) -> Self {
        self.add_extra_param(name, value)
    }
}

impl AppRegistration {
    /// The app `client_id` authenticating with `secret`, or with `certificate` when set.
    pub fn new(
        client_id: &str,
        secret: &Secret,
        certificate: Option<&ClientCertificate>,
        authority: &url::Url,
        tenant: &str,
    ) -> Result<AppRegistration, SyncError> {
        let token_url = endpoint(authority, tenant, "token")?;
        let auth_url = endpoint(authority, tenant, "authorize")?;
        let base = BasicClient::new(ClientId::new(client_id.to_string()))
            .set_auth_type(AuthType::RequestBody)
            .set_auth_uri(AuthUrl::from_url(auth_url))
            .set_token_uri(TokenUrl::from_url(token_url.clone()));
        let (client, auth) = match certificate {
            Some(cert) => (
                base,
                ClientAuth::Certificate(AssertionSigner::new(cert).map_err(SyncError::Config)?),
            ),
            None => (
                base.set_client_secret(ClientSecret::new(secret.expose().to_string())),
                ClientAuth::Secret(secret.clone()),
            ),
        };
        Ok(AppRegistration {
            client_id: client_id.to_string(),
            auth,
            client,
            token_url,
        })
    }

    /// "client secret" or "certificate", for labels.
    pub fn kind(&self) -> &'static str {
        match self.auth {
            ClientAuth::Secret(_) => "client secret",
            ClientAuth::Certificate(_) => "certificate",
        }
    }

    /// The client secret, to redact from messages (empty for certificates).
    fn secret_text(&self) -> &str {
        match &self.auth {
            ClientAuth::Secret(s) => s.expose(),
            ClientAuth::Certificate(_) => "",
        }
    }

    /// Adds a fresh client assertion when the app uses a certificate.
    fn authenticate<R: ExtraParams>(&self, request: R) -> Result<R, TokenFailure> {
        match &self.auth {
            ClientAuth::Secret(_) => Ok(request),
            ClientAuth::Certificate(signer) => {
                let jwt = signer
                    .sign(&self.client_id, self.token_url.as_str())
                    .map_err(TokenFailure::other)?;
                Ok(request
                    .extra("client_assertion_type", ASSERTION_TYPE.to_string())
                    .extra("client_assertion", jwt))
            }
        }
    }

    /// An app-only token for `scope` (`{graph}/.default`).
    pub async fn client_credentials(
        &self,
        http: &reqwest::Client,
        scope: &str,
    ) -> Result<BasicTokenResponse, TokenFailure> {
        let request = self
            .client
            .exchange_client_credentials()
            .add_scope(Scope::new(scope.to_string()));
        self.authenticate(request)?
            .request_async(http)
            .await
            .map_err(|e| classify(e, &[self.secret_text()]))
    }

    /// Redeems a refresh token (the response carries the rotated one).
    pub async fn refresh(
        &self,
        http: &reqwest::Client,
        refresh_token: &str,
        scopes: &[String],
    ) -> Result<BasicTokenResponse, TokenFailure> {
        let rt = RefreshToken::new(refresh_token.to_string());
        let request = self
            .client
            .exchange_refresh_token(&rt)
            .add_scopes(scopes.iter().cloned().map(Scope::new));
        self.authenticate(request)?
            .request_async(http)
            .await
            .map_err(|e| classify(e, &[self.secret_text(), refresh_token]))
    }

    /// Redeems an authorization code with its PKCE verifier.
    pub async fn redeem_code(
        &self,
        http: &reqwest::Client,
        code: &str,
        verifier: PkceCodeVerifier,
        redirect: &RedirectUrl,
    ) -> Result<BasicTokenResponse, TokenFailure> {
        let request = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(verifier)
            .set_redirect_uri(Cow::Borrowed(redirect));
        self.authenticate(request)?
            .request_async(http)
            .await
            .map_err(|e| classify(e, &[self.secret_text(), code]))
    }

    /// Redeems a sign-in's authorization code (scopes `openid profile email`) with its
    /// PKCE verifier; the response carries the `id_token` (not yet verified).
    pub async fn redeem_sign_in_code(
        &self,
        http: &reqwest::Client,
        code: &str,
        verifier: PkceCodeVerifier,
        redirect: &RedirectUrl,
    ) -> Result<SignInTokenResponse, TokenFailure> {
        let mut client = SignInClient::new(ClientId::new(self.client_id.clone()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(TokenUrl::from_url(self.token_url.clone()));
        if let ClientAuth::Secret(secret) = &self.auth {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
        }
        let request = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(verifier)
            .set_redirect_uri(Cow::Borrowed(redirect));
        self.authenticate(request)?
            .request_async(http)
            .await
            .map_err(|e| classify(e, &[self.secret_text(), code]))
    }

    /// The authorize URL for the delegated flow (PKCE S256, `state`), its state and the
    /// verifier to keep until the callback.
    pub fn authorize_url(
        &self,
        redirect: RedirectUrl,
        scopes: &[String],
    ) -> (url::Url, CsrfToken, PkceCodeVerifier) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .set_redirect_uri(Cow::Owned(redirect))
            .url();
        (url, state, verifier)
    }
}

/// `{authority}/{tenant}/oauth2/v2.0/{leaf}`, with the tenant as one escaped path segment.
pub fn endpoint(authority: &url::Url, tenant: &str, leaf: &str) -> Result<url::Url, SyncError> {
    let mut url = authority.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|()| SyncError::Config(format!("authority_url {authority} cannot have a path")))?
        .pop_if_empty()
        .extend([tenant, "oauth2", "v2.0", leaf]);
    Ok(url)
}
