//! Plain data types that every other module speaks.
//!
//! Why a module of its own: sync produces these, the store persists them, the directory
//! renders them as LDAP entries and the admin API shows them. Keeping them free of any
//! behaviour (and of any import of ours) lets each of those layers change on its own.

use serde::{Deserialize, Serialize};

/// An Entra object id (a GUID, lowercase). Stable for the life of the object in Entra,
/// so it keys everything we persist and is served as `entryUUID`.
pub type ObjectId = String;

/// Seconds since the Unix epoch.
pub type UnixTime = i64;

/// A user as Microsoft Graph describes it (only the properties we `$select`).
/// `Hash`: the store keeps a digest per object to find what a delta run changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EntraUser {
    pub id: ObjectId,
    pub user_principal_name: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub mail: Option<String>,
    pub mail_nickname: Option<String>,
    pub on_premises_sam_account_name: Option<String>,
    pub account_enabled: bool,
    /// `Member` or `Guest`.
    pub user_type: Option<String>,
    pub created_date_time: Option<String>,
    pub last_password_change_date_time: Option<String>,
}

/// A direct member of a group. Other member kinds (devices, contacts, service principals)
/// have no place in a POSIX directory and are dropped by sync.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MemberRef {
    User(ObjectId),
    Group(ObjectId),
}

/// A group as Microsoft Graph describes it, with its direct members.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EntraGroup {
    pub id: ObjectId,
    pub display_name: String,
    pub description: Option<String>,
    pub mail: Option<String>,
    pub mail_enabled: bool,
    pub security_enabled: bool,
    /// e.g. `["Unified"]` for Microsoft 365 groups, `[]` for security groups.
    pub group_types: Vec<String>,
    pub created_date_time: Option<String>,
    pub members: Vec<MemberRef>,
}

/// A domain of the tenant (`GET /domains`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntraDomain {
    pub id: String,
    pub is_default: bool,
    pub is_initial: bool,
    pub is_verified: bool,
}

/// Why a user that Entra still (or once) knew cannot bind and is hidden from searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InactiveReason {
    DisabledInEntra,
    NotInAllowedGroup,
    InDeniedGroup,
    /// The user's UPN/mail domain is not one of the domains selected for sync.
    OutsideSelectedDomains,
    Deleted,
}

/// Whether a user may bind and is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum UserStatus {
    Active,
    Inactive(InactiveReason),
}

impl UserStatus {
    /// True when the user may bind and is returned by searches.
    pub fn is_active(self) -> bool {
        matches!(self, UserStatus::Active)
    }
}

/// Everything read from the tenant, before scoping decides who is active: the mirror of
/// Graph that delta rounds update and that scoping rules are evaluated over (including
/// groups that are not themselves imported, since allowed/denied groups may be among them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawTenant {
    pub users: Vec<EntraUser>,
    pub groups: Vec<EntraGroup>,
    pub domains: Vec<EntraDomain>,
}

/// The complete, scoped picture of a tenant that one sync run hands to the store.
///
/// Users absent from `users` that the store still holds become `Inactive(Deleted)`;
/// groups absent from `groups` are removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSnapshot {
    pub users: Vec<(EntraUser, UserStatus)>,
    pub groups: Vec<EntraGroup>,
    pub domains: Vec<EntraDomain>,
    /// False when user sync is off: the commit then leaves every stored user exactly as it
    /// is (no update, no deactivation, no new user) and `users` is ignored.
    #[serde(default = "yes")]
    pub users_synced: bool,
    /// Problems with the scoping options an admin should see (e.g. an allowed group that
    /// matches no group of the tenant); copied onto the run record.
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl Default for TenantSnapshot {
    /// An empty tenant whose users are synced (the usual case).
    fn default() -> Self {
        TenantSnapshot {
            users: Vec::new(),
            groups: Vec::new(),
            domains: Vec::new(),
            users_synced: true,
            warnings: Vec::new(),
        }
    }
}

/// `true`, for serde defaults.
fn yes() -> bool {
    true
}

/// A user as persisted: the Entra data plus what we allocated for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub entra: EntraUser,
    /// Login name (`uid`), derived once and kept stable across syncs.
    pub uid: String,
    pub uid_number: u32,
    pub gid_number: u32,
    pub status: UserStatus,
    pub ssh_public_keys: Vec<String>,
    /// When we first stored this user, and when its data last changed.
    pub created: UnixTime,
    pub modified: UnixTime,
}

/// A group as persisted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub entra: EntraGroup,
    /// The `cn` (RDN value), derived once and kept stable across syncs.
    pub cn: String,
    pub gid_number: u32,
    pub created: UnixTime,
    pub modified: UnixTime,
}

/// A service account that applications bind as (`cn=<name>,<base>`, as Foxpass places them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinderRecord {
    pub name: String,
    pub description: Option<String>,
    /// DNs of subtrees this binder may read; empty means the whole directory.
    pub scope: Vec<String>,
    pub created: UnixTime,
}

/// Everything the directory snapshot is built from (never password verifiers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectoryData {
    pub users: Vec<UserRecord>,
    pub groups: Vec<GroupRecord>,
    pub domains: Vec<EntraDomain>,
    pub binders: Vec<BinderRecord>,
}

/// What one sync commit changed in the directory records: every user and group record it
/// added or rewrote (as stored afterwards) and the groups it removed. A delta run hands this
/// to the served snapshot, which then rebuilds only the entries these touch instead of all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectoryChanges {
    pub users: Vec<UserRecord>,
    pub groups: Vec<GroupRecord>,
    pub removed_groups: Vec<ObjectId>,
}

impl DirectoryChanges {
    /// Objects touched (for choosing between a patch and a full rebuild).
    pub fn len(&self) -> usize {
        self.users.len() + self.groups.len() + self.removed_groups.len()
    }

    /// True when no record changed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What started a sync run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncTrigger {
    Startup,
    Schedule,
    Manual,
    /// An admin changed the sync options; the run makes them take effect.
    SettingsChanged,
}

/// Where a sync run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncOutcome {
    Running,
    Succeeded,
    Failed,
    /// Read and scoped, but it would deactivate or remove more than the deletion threshold
    /// allows: nothing was committed; an admin approves or discards it.
    Held,
    /// A held run an admin discarded.
    Discarded,
}

/// How a run read the tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Everything re-read (first run, periodic reconciliation, expired delta token).
    Full,
    /// Only the changes since the last committed delta link.
    Delta,
}

/// Counts of what one committed run changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeCounts {
    pub users_added: u64,
    pub users_changed: u64,
    pub users_deactivated: u64,
    pub users_removed: u64,
    pub groups_added: u64,
    pub groups_changed: u64,
    pub groups_removed: u64,
    /// Domains added, changed or removed (they decide the derived base DN).
    #[serde(default)]
    pub domains_changed: u64,
}

impl ChangeCounts {
    /// True when the run changed nothing that the directory snapshot is built from.
    pub fn is_empty(&self) -> bool {
        *self == ChangeCounts::default()
    }
}

/// One sync run, as shown in the run history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRun {
    pub id: u64,
    pub trigger: SyncTrigger,
    pub started: UnixTime,
    pub finished: Option<UnixTime>,
    pub outcome: SyncOutcome,
    /// Which credential fetched the data (e.g. "client_secret").
    pub credential: Option<String>,
    /// Credentials tried before the one used, each with why it failed (AADSTS code and
    /// text), so an admin sees that the backup took over and why.
    #[serde(default)]
    pub credential_failures: Vec<String>,
    /// Full or delta; `None` until the run has decided (or for runs of older releases).
    #[serde(default)]
    pub mode: Option<SyncMode>,
    pub graph_requests: u64,
    pub changes: ChangeCounts,
    /// Why the run failed, in words an admin can act on. Never contains a secret.
    pub error: Option<String>,
    /// Problems with the sync options found by this run (e.g. an allowed group that matches
    /// no group), shown on the status so a typo does not silently deactivate everyone.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// Which credential slot an authorization fills: the sync tries `primary` first and moves
/// to `backup` when the primary is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialSlot {
    Primary,
    Backup,
}

/// What an authorization is used for: Graph reads of users, groups or domains (as the Sync
/// page authorizes user, group and subdomain sync separately), or all of them. A
/// purpose-specific authorization beats `all` in the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialPurpose {
    All,
    Users,
    Groups,
    Domains,
}

/// A delegated authorization as the API shows it: who authorized what, and whether it
/// works. Never carries a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationInfo {
    pub slot: CredentialSlot,
    pub purpose: CredentialPurpose,
    /// The authorizing admin's userPrincipalName.
    pub who: String,
    pub authorized_at: UnixTime,
    /// When the test Graph call (the "green check") last succeeded.
    pub validated_at: Option<UnixTime>,
    /// Why the last use failed (AADSTS code and text), cleared by a success.
    pub last_error: Option<String>,
}

impl SyncRun {
    /// A run starting now: no id yet (the store assigns it), nothing read or changed.
    pub fn starting(trigger: SyncTrigger) -> SyncRun {
        SyncRun {
            id: 0,
            trigger,
            started: now(),
            finished: None,
            outcome: SyncOutcome::Running,
            credential: None,
            credential_failures: Vec::new(),
            mode: None,
            graph_requests: 0,
            changes: ChangeCounts::default(),
            error: None,
            warnings: Vec::new(),
        }
    }
}

/// Current time as [`UnixTime`].
pub fn now() -> UnixTime {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
