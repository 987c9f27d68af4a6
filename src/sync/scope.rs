//! Which users are active: the rules between what Graph returned and what is served.
//!
//! Why its own module: today the only rule is Entra's own `accountEnabled`; the
//! "Production-grade Entra sync" issue adds admin-configured scoping (allowed and denied
//! groups), which belongs here and nowhere else.

use super::fetch::RawTenant;
use crate::model::{EntraUser, InactiveReason, TenantSnapshot, UserStatus};

/// The snapshot to commit: every user with its status, groups and domains unchanged.
pub fn apply(raw: RawTenant) -> TenantSnapshot {
    TenantSnapshot {
        users: raw
            .users
            .into_iter()
            .map(|u| {
                let status = user_status(&u);
                (u, status)
            })
            .collect(),
        groups: raw.groups,
        domains: raw.domains,
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
        let snap = apply(RawTenant {
            users: vec![on, off],
            ..RawTenant::default()
        });
        assert_eq!(snap.users[0].1, UserStatus::Active);
        assert_eq!(
            snap.users[1].1,
            UserStatus::Inactive(InactiveReason::DisabledInEntra)
        );
    }
}
