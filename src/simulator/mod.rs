//! A simulated Entra tenant: the identity platform's token endpoint and the Graph v1.0
//! endpoints sync uses, over real HTTP on loopback.
//!
//! Why: the demo must run with no Entra account, and tests must exercise the real sync code
//! over real HTTP against something that behaves like Microsoft Graph (paging at small page
//! sizes, `$select`, throttling, AADSTS errors). Used by `entra-ldap demo` and tests only.
//!
//! Layout: [`tenant`] holds the data (Graph-shaped objects), [`demo`] builds the demo and
//! benchmark tenants, `server` runs axum with the handle tests drive, `identity` is the
//! token endpoint (with `assertion` checking certificate credentials), `delegation` the
//! authorize endpoint, delegated sign-ins and their failure switches, `sign_in_form` the
//! page a browser signs in on, `oidc` the id_tokens, JWKS and discovery document, `graph`
//! the Graph collections and `delta` the delta queries.

mod assertion;
mod clock;
mod delegation;
mod delta;
pub mod demo;
mod graph;
mod identity;
mod oidc;
mod server;
mod sign_in_form;
pub mod tenant;

pub use delegation::SimApp;
pub use demo::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TENANT_ID, demo_tenant, generated_tenant,
    generated_tenant_sized,
};
pub use oidc::{DEFAULT_SIGN_IN_PASSWORD, IdTokenFault};
pub use server::{DeltaExpiry, Fault, SimulatorHandle, start};
pub use tenant::{
    Change, MemberKind, SimDomain, SimGroup, SimMember, SimOtherObject, SimUser, Tenant,
};
