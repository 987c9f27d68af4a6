//! A simulated Entra tenant: the identity platform's token endpoint and the Graph v1.0
//! endpoints sync uses, over real HTTP on loopback.
//!
//! Why: the demo must run with no Entra account, and tests must exercise the real sync code
//! over real HTTP against something that behaves like Microsoft Graph (paging at small page
//! sizes, `$select`, throttling, AADSTS errors). Used by `entra-ldap demo` and tests only.

use std::net::SocketAddr;

/// A tenant's contents and its app credentials.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// Largest page the simulator serves, whatever `$top` asks (to exercise paging).
    pub max_page_size: usize,
}

/// The small hand-written demo tenant (domain example.com; active, disabled and guest users;
/// M365 and security groups; a nested group).
pub fn demo_tenant() -> Tenant {
    todo!()
}

/// A deterministic tenant shaped like ../shared/bench/gen_ldif.py: users `user0000…`,
/// groups `group0000…` with about 20 members each.
pub fn generated_tenant(_users: usize, _groups: usize) -> Tenant {
    todo!()
}

/// A running simulator.
pub struct SimulatorHandle {
    /// Base URL for both `authority_url` and `graph_url` (e.g. `http://127.0.0.1:PORT`).
    pub url: url::Url,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
}

/// Starts serving `tenant` on `addr` (port 0 for any) in the background.
pub async fn start(_tenant: Tenant, _addr: SocketAddr) -> std::io::Result<SimulatorHandle> {
    todo!()
}
