//! Which users are active and which groups are imported: the rules between what Graph
//! returned and what is served.
//!
//! Why its own module (and a pure function): these are the rules an admin configures on the
//! Sync page (user/group sync on or off, mail-less groups, group name prefixes, allowed and
//! denied groups, selected domains), and a mistake here silently locks people out of VPNs
//! and Wi-Fi. Keeping them free of I/O makes every rule testable on its own.
//!
//! Allowed/denied groups are evaluated over *all* groups of the tenant, imported or not, and
//! through nested groups; every walk over nested groups keeps a visited set, so a
//! membership cycle cannot hang the sync.

use super::delta::Mirror;
use super::settings::SyncSettings;
use crate::model::{
    EntraDomain, EntraGroup, EntraUser, InactiveReason, MemberRef, RawTenant, TenantSnapshot,
    UserStatus,
};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// The snapshot to commit: users with their status, the imported groups with their
/// members, the domains, and warnings about options that match nothing.
pub fn apply(raw: &RawTenant, settings: &SyncSettings) -> TenantSnapshot {
    let view = View {
        users: raw.users.iter().collect(),
        groups: raw.groups.iter().collect(),
        domains: &raw.domains,
    };
    apply_view(&view, settings)
}

/// [`apply`] straight from the sync worker's mirror (ordered by object id, like
/// [`Mirror::to_raw`]), without first copying the whole tenant out of it: a delta run
/// scopes the complete mirror each time, and that copy (every user, group and member
/// reference) used to cost about as much as the scoping itself.
pub fn apply_mirror(mirror: &Mirror, settings: &SyncSettings) -> TenantSnapshot {
    let view = View {
        users: mirror.users.values().collect(),
        groups: mirror.groups.values().collect(),
        domains: &mirror.domains,
    };
    apply_view(&view, settings)
}

/// The tenant to scope, borrowed (from a [`RawTenant`] or a [`Mirror`]).
struct View<'a> {
    users: Vec<&'a EntraUser>,
    groups: Vec<&'a EntraGroup>,
    domains: &'a [EntraDomain],
}

fn apply_view(view: &View<'_>, settings: &SyncSettings) -> TenantSnapshot {
    let tenant = Tenant::new(view);
    let rules = Rules::new(view, &tenant, settings);
    let users = if settings.users {
        view.users
            .iter()
            .map(|u| ((*u).clone(), rules.status(u)))
            .collect()
    } else {
        Vec::new()
    };
    let groups = if settings.groups {
        tenant.imported_groups(settings)
    } else {
        Vec::new()
    };
    TenantSnapshot {
        users,
        groups,
        domains: view.domains.to_vec(),
        users_synced: settings.users,
        warnings: rules.warnings,
    }
}

/// What decides every user's status (the selected domains, the users transitively in an
/// allowed or a denied group), with the warnings about options that match nothing.
/// Shared by the full scope and [`apply_delta`], so both apply the very same rules.
struct Rules<'a> {
    domains: DomainScope,
    allowed: Option<HashSet<&'a str>>,
    denied: HashSet<&'a str>,
    warnings: Vec<String>,
}

impl<'a> Rules<'a> {
    fn new(view: &View<'_>, tenant: &Tenant<'a>, settings: &SyncSettings) -> Rules<'a> {
        let mut warnings = Vec::new();
        let domains = DomainScope::new(view.domains, settings, &mut warnings);
        let allowed = (!settings.allowed_groups.is_empty()).then(|| {
            tenant.members_of_entries("allowed_groups", &settings.allowed_groups, &mut warnings)
        });
        if allowed.as_ref().is_some_and(HashSet::is_empty) {
            warnings.push(
                "allowed_groups: no user is in any allowed group, so every user is inactive"
                    .to_string(),
            );
        }
        let denied =
            tenant.members_of_entries("denied_groups", &settings.denied_groups, &mut warnings);
        Rules {
            domains,
            allowed,
            denied,
            warnings,
        }
    }

    /// `user`'s status under every rule (see [`scoped_status`]).
    fn status(&self, user: &EntraUser) -> UserStatus {
        scoped_status(user, &self.domains, self.allowed.as_ref(), &self.denied)
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

/// A user's status under every rule, the strongest reason first: disabled in Entra, then
/// outside the selected domains, then in a denied group, then not in an allowed group.
fn scoped_status(
    user: &EntraUser,
    domains: &DomainScope,
    allowed: Option<&HashSet<&str>>,
    denied: &HashSet<&str>,
) -> UserStatus {
    let id = user.id.as_str();
    let reason = if !user.account_enabled {
        InactiveReason::DisabledInEntra
    } else if !domains.accepts_user(user) {
        InactiveReason::OutsideSelectedDomains
    } else if denied.contains(id) {
        InactiveReason::InDeniedGroup
    } else if allowed.is_some_and(|a| !a.contains(id)) {
        InactiveReason::NotInAllowedGroup
    } else {
        return UserStatus::Active;
    };
    UserStatus::Inactive(reason)
}

/// Lookups over the whole tenant as read from Graph.
struct Tenant<'a> {
    groups: &'a [&'a EntraGroup],
    by_id: HashMap<&'a str, &'a EntraGroup>,
    users: HashSet<&'a str>,
}

impl<'a> Tenant<'a> {
    fn new(view: &'a View<'a>) -> Tenant<'a> {
        Tenant {
            groups: &view.groups,
            by_id: view.groups.iter().map(|g| (g.id.as_str(), *g)).collect(),
            users: view.users.iter().map(|u| u.id.as_str()).collect(),
        }
    }

    /// The users transitively in any group that an entry of `entries` names (by object id
    /// or display name, case-insensitively). An entry that names no group is a warning.
    fn members_of_entries(
        &self,
        option: &str,
        entries: &[String],
        warnings: &mut Vec<String>,
    ) -> HashSet<&'a str> {
        let mut starts = Vec::new();
        for entry in entries {
            let name = entry.to_lowercase();
            let matched: Vec<&str> = self
                .groups
                .iter()
                .filter(|g| {
                    g.id.eq_ignore_ascii_case(entry) || g.display_name.to_lowercase() == name
                })
                .map(|g| g.id.as_str())
                .collect();
            if matched.is_empty() {
                warnings.push(format!(
                    "{option}: `{entry}` matches no group of the tenant (by name or object id)"
                ));
            }
            starts.extend(matched);
        }
        self.transitive_users(starts)
    }

    /// Users reachable from the `start` groups through nested groups (cycle-safe).
    fn transitive_users(&self, start: Vec<&'a str>) -> HashSet<&'a str> {
        let mut users = HashSet::new();
        let mut visited: HashSet<&str> = HashSet::new();
        let mut stack = start;
        while let Some(id) = stack.pop() {
            if !visited.insert(id) {
                continue;
            }
            let Some(group) = self.by_id.get(id) else {
                continue;
            };
            for member in &group.members {
                match member {
                    MemberRef::User(u) if self.users.contains(u.as_str()) => {
                        users.insert(u.as_str());
                    }
                    MemberRef::User(_) => {}
                    MemberRef::Group(g) => stack.push(g.as_str()),
                }
            }
        }
        users
    }

    /// The groups to import, each with members that still reflect Entra's effective
    /// membership (see [`Tenant::effective_members`]).
    fn imported_groups(&self, settings: &SyncSettings) -> Vec<EntraGroup> {
        let imported: HashSet<&str> = self
            .groups
            .iter()
            .filter(|g| is_imported(g, settings))
            .map(|g| g.id.as_str())
            .collect();
        self.groups
            .iter()
            .filter(|g| imported.contains(g.id.as_str()))
            .map(|g| with_members(g, self.effective_members(g, &imported)))
            .collect()
    }

    /// A group's direct members, except that a member group which is not imported is
    /// replaced by its own members (recursively), so memberOf/memberUid still show who is
    /// in the group through it. Members that are not users or groups of the tenant are
    /// dropped, and so is the group itself (reached through a cycle); duplicates are
    /// removed; order is kept.
    fn effective_members(&self, group: &EntraGroup, imported: &HashSet<&str>) -> Vec<MemberRef> {
        if self.members_are_effective(group, imported) {
            return group.members.clone();
        }
        self.expand_members(group, imported)
    }

    /// [`Tenant::effective_members`] the long way: a walk over the members and those of
    /// nested groups that are not imported, with sets against cycles and duplicates.
    fn expand_members(&self, group: &EntraGroup, imported: &HashSet<&str>) -> Vec<MemberRef> {
        let mut out = Vec::new();
        let mut seen: HashSet<&MemberRef> = HashSet::new();
        let mut expanded: HashSet<&str> = HashSet::from([group.id.as_str()]);
        let mut queue: std::collections::VecDeque<&MemberRef> = group.members.iter().collect();
        while let Some(member) = queue.pop_front() {
            let keep = match member {
                MemberRef::User(id) => self.users.contains(id.as_str()),
                MemberRef::Group(id) if *id == group.id => false,
                MemberRef::Group(id) if imported.contains(id.as_str()) => true,
                MemberRef::Group(id) => {
                    if let Some(nested) = self.by_id.get(id.as_str())
                        && expanded.insert(id.as_str())
                    {
                        queue.extend(nested.members.iter());
                    }
                    false
                }
            };
            if keep && seen.insert(member) {
                out.push(member.clone());
            }
        }
        out
    }

    /// The common case, checked without building any set: the direct members are already
    /// the effective ones, i.e. every member is kept as it is (a user of the tenant, or an
    /// imported group other than `group` itself, so nothing is expanded or dropped) and
    /// they are strictly ascending (so there is no duplicate to remove; the mirror keeps
    /// members sorted). Then [`Tenant::effective_members`] would return them unchanged.
    fn members_are_effective(&self, group: &EntraGroup, imported: &HashSet<&str>) -> bool {
        group.members.windows(2).all(|pair| pair[0] < pair[1])
            && group.members.iter().all(|member| match member {
                MemberRef::User(id) => self.users.contains(id.as_str()),
                MemberRef::Group(id) => *id != group.id && imported.contains(id.as_str()),
            })
    }
}

/// A copy of `group` with other members, without copying its own member list first.
fn with_members(group: &EntraGroup, members: Vec<MemberRef>) -> EntraGroup {
    let EntraGroup {
        id,
        display_name,
        description,
        mail,
        mail_enabled,
        security_enabled,
        group_types,
        created_date_time,
        members: _,
    } = group;
    EntraGroup {
        id: id.clone(),
        display_name: display_name.clone(),
        description: description.clone(),
        mail: mail.clone(),
        mail_enabled: *mail_enabled,
        security_enabled: *security_enabled,
        group_types: group_types.clone(),
        created_date_time: created_date_time.clone(),
        members,
    }
}

/// Mail-enabled groups always (unless filtered by prefix); mail-less ones only when asked.
fn is_imported(group: &EntraGroup, settings: &SyncSettings) -> bool {
    let has_mail = group.mail.as_deref().is_some_and(|m| !m.trim().is_empty());
    (has_mail || settings.groups_without_email)
        && (settings.group_prefixes.is_empty() || {
            let name = lowercase(&group.display_name);
            settings
                .group_prefixes
                .iter()
                .any(|p| name.starts_with(&*lowercase(p)))
        })
}

/// `text` lowercased, borrowed when it is lowercase already (almost every address is):
/// scoping looks at two addresses of every user on every run.
fn lowercase(text: &str) -> Cow<'_, str> {
    if text
        .bytes()
        .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
    {
        Cow::Owned(text.to_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}

/// Which UPN/mail domains are in scope.
struct DomainScope {
    /// The tenant's default domain, lowercased; `None`: no filtering at all.
    default: Option<String>,
    selected: HashSet<String>,
    all_subdomains: bool,
}

impl DomainScope {
    fn new(
        domains: &[EntraDomain],
        settings: &SyncSettings,
        warnings: &mut Vec<String>,
    ) -> DomainScope {
        let default = domains
            .iter()
            .find(|d| d.is_default)
            .map(|d| d.id.to_lowercase());
        for entry in &settings.subdomains {
            if !domains.iter().any(|d| d.id.eq_ignore_ascii_case(entry)) {
                warnings.push(format!(
                    "subdomains: `{entry}` is not a domain of the tenant (see GET /domains)"
                ));
            }
        }
        DomainScope {
            default,
            selected: settings
                .subdomains
                .iter()
                .map(|d| d.to_lowercase())
                .collect(),
            all_subdomains: settings.all_subdomains,
        }
    }

    /// In scope when the domain of the UPN or of the mail address is selected.
    fn accepts_user(&self, user: &EntraUser) -> bool {
        if self.default.is_none() {
            return true;
        }
        [
            Some(user.user_principal_name.as_str()),
            user.mail.as_deref(),
        ]
        .into_iter()
        .flatten()
        .filter_map(|address| address.rsplit_once('@'))
        .any(|(_, domain)| self.accepts_domain(&lowercase(domain)))
    }

    fn accepts_domain(&self, domain: &str) -> bool {
        let Some(default) = &self.default else {
            return true;
        };
        domain == default
            || self.selected.contains(domain)
            || (self.all_subdomains
                && domain
                    .strip_suffix(default.as_str())
                    .is_some_and(|head| head.len() > 1 && head.ends_with('.')))
    }
}

mod incremental;
pub use incremental::apply_delta;

#[cfg(test)]
mod incremental_tests;
#[cfg(test)]
mod random_tests;
#[cfg(test)]
mod tests;
