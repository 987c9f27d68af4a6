//! Which users are active: the rules between what Graph returned and what is served.
//!
//! Why its own module: today the only rule is Entra's own `accountEnabled`; the
//! "Production-grade Entra sync" issue adds admin-configured scoping (allowed and denied
//! groups), which belongs here and nowhere else.

use super::settings::SyncSettings;
use crate::model::{EntraUser, InactiveReason, RawTenant, TenantSnapshot, UserStatus};

/// The snapshot to commit: every user with its status, groups and domains unchanged.
pub fn apply(raw: &RawTenant, _settings: &SyncSettings) -> TenantSnapshot {
    TenantSnapshot {
        users: raw
            .users
            .iter()
            .map(|u| (u.clone(), user_status(u)))
            .collect(),
        groups: raw.groups.clone(),
        domains: raw.domains.clone(),
    }
}

/// A user blocked from signing in to Entra is inactive here too.
pub fn user_status(user: &EntraUser) -> UserStatus {
    if user.account_enabled {
        UserStatus::Active
    } else {
        UserStatus::Inactive(InactiveReason::DisabledInEntra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_users_are_inactive() {
        let on = EntraUser {
            id: "1".into(),
            account_enabled: true,
            ..EntraUser::default()
        };
        let off = EntraUser {
            id: "2".into(),
            account_enabled: false,
            ..EntraUser::default()
        };
        let raw = RawTenant {
            users: vec![on, off],
            ..RawTenant::default()
        };
        let snap = apply(&raw, &SyncSettings::default());
        assert_eq!(snap.users[0].1, UserStatus::Active);
        assert_eq!(
            snap.users[1].1,
            UserStatus::Inactive(InactiveReason::DisabledInEntra)
        );
    }
}
