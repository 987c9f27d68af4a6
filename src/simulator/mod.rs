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
//! authorize endpoint, delegated sign-ins and their failure switches, and `graph` the Graph
//! collections.

mod assertion;
mod clock;
mod delegation;
pub mod demo;
mod graph;
mod identity;
mod server;
pub mod tenant;

pub use delegation::SimApp;
pub use demo::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TENANT_ID, demo_tenant, generated_tenant};
pub use server::{Fault, SimulatorHandle, start};
pub use tenant::{MemberKind, SimDomain, SimGroup, SimMember, SimOtherObject, SimUser, Tenant};
