//! Console sessions: who is signed in, kept in memory behind a random cookie.
//!
//! Why in memory: sessions are few (a handful of admins), short-lived, and a restart signing
//! everyone out is acceptable for an admin console; nothing secret ever reaches the store.
//! Ids are 256 random bits from the OS, so they cannot be guessed; each session carries its
//! own CSRF token. A session ends after [`MAX_AGE`] or [`IDLE_TIMEOUT`] without a request,
//! whichever comes first, or on sign-out.
//!
//! The way someone signed in is an [`Identity`]: the break-glass admin token, or a person
//! signed in with Microsoft (OpenID Connect) as an admin or an employee. Everything
//! downstream (audit actor, page header, what a session may open) goes through it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest a session lives, however active.
pub const MAX_AGE: Duration = Duration::from_secs(8 * 3600);
/// A session unused this long ends.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Name of the session cookie.
pub const COOKIE_NAME: &str = "entra_ldap_console";
/// Most sessions kept at once; beyond it the oldest is dropped (bounds memory if someone
/// holds the token and signs in in a loop).
const MAX_SESSIONS: usize = 1000;

/// How a session's holder proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// Presented the `[admin] token` from the config.
    AdminToken,
    /// Signed in with Microsoft.
    Microsoft {
        /// Entra object id (the id_token's `oid`).
        object_id: String,
        /// userPrincipalName, for people to read.
        upn: String,
        role: Role,
    },
}

/// What a person signed in with Microsoft may open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The console (listed in `[admin] admins` or a member of `[admin] admin_group`).
    Admin,
    /// Only the self-service page (any other active synced user).
    Employee,
}

impl Identity {
    /// The name written to the audit trail and shown in the header.
    pub fn actor(&self) -> String {
        match self {
            Identity::AdminToken => "console:admin-token".to_string(),
            Identity::Microsoft { upn, .. } => format!("microsoft:{upn}"),
        }
    }

    /// Who signed in, for people to read: the UPN, or "the admin token".
    pub fn who(&self) -> &str {
        match self {
            Identity::AdminToken => "the admin token",
            Identity::Microsoft { upn, .. } => upn,
        }
    }

    /// Whether this session may use the admin console.
    pub fn is_admin(&self) -> bool {
        match self {
            Identity::AdminToken => true,
            Identity::Microsoft { role, .. } => *role == Role::Admin,
        }
    }

    /// The Entra object id of a person signed in with Microsoft.
    pub fn object_id(&self) -> Option<&str> {
        match self {
            Identity::AdminToken => None,
            Identity::Microsoft { object_id, .. } => Some(object_id),
        }
    }
}

/// A one-time message shown on the next page (after a redirect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

/// What a request learns about its session.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: String,
    pub identity: Identity,
    /// Must come back with every form POST.
    pub csrf: String,
}

struct Entry {
    session: Session,
    created: Instant,
    last_seen: Instant,
    flash: Option<Flash>,
}

/// All live sessions.
pub struct Sessions {
    entries: Mutex<HashMap<String, Entry>>,
    max_age: Duration,
    idle: Duration,
}

/// 256 random bits from the OS, URL-safe base64 (43 characters).
pub fn random_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Default for Sessions {
    fn default() -> Sessions {
        Sessions::with_limits(MAX_AGE, IDLE_TIMEOUT)
    }
}

impl Sessions {
    /// A store whose sessions end after `max_age`, or `idle` without use.
    pub fn with_limits(max_age: Duration, idle: Duration) -> Sessions {
        Sessions {
            entries: Mutex::new(HashMap::new()),
            max_age,
            idle,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // Plain records: a panicking holder leaves nothing half-updated to fear.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expired(&self, entry: &Entry, now: Instant) -> bool {
        now.duration_since(entry.created) >= self.max_age
            || now.duration_since(entry.last_seen) >= self.idle
    }

    /// Starts a session for `identity`; returns it (its id goes into the cookie).
    pub fn create(&self, identity: Identity) -> Session {
        let now = Instant::now();
        let session = Session {
            id: random_token(),
            identity,
            csrf: random_token(),
        };
        let mut entries = self.lock();
        entries.retain(|_, e| !self.expired(e, now));
        if entries.len() >= MAX_SESSIONS {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.created)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            session.id.clone(),
            Entry {
                session: session.clone(),
                created: now,
                last_seen: now,
                flash: None,
            },
        );
        session
    }

    /// The live session with this id (refreshing its idle timer), or `None` when unknown
    /// or expired (an expired one is dropped).
    pub fn touch(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut entries = self.lock();
        let expired = self.expired(entries.get(id)?, now);
        if expired {
            entries.remove(id);
            return None;
        }
        let entry = entries.get_mut(id)?;
        entry.last_seen = now;
        Some(entry.session.clone())
    }

    /// Ends a session (sign-out).
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Leaves a message for the session's next page.
    pub fn set_flash(&self, id: &str, ok: bool, text: impl Into<String>) {
        if let Some(entry) = self.lock().get_mut(id) {
            entry.flash = Some(Flash {
                ok,
                text: text.into(),
            });
        }
    }

    /// The pending message, if any (shown once).
    pub fn take_flash(&self, id: &str) -> Option<Flash> {
        self.lock().get_mut(id).and_then(|e| e.flash.take())
    }
}

/// The `Set-Cookie` value that carries a session id. `Secure` always: browsers accept it
/// over https and on http://localhost / 127.0.0.1, the console's default; anywhere else the
/// console must be served over TLS (docs/console.md).
pub fn cookie(id: &str) -> String {
    format!(
        "{COOKIE_NAME}={id}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        MAX_AGE.as_secs()
    )
}

/// The `Set-Cookie` value that deletes the session cookie.
pub fn expired_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0")
}

/// The session id from a `Cookie` request header, if present.
pub fn id_from_cookie_header(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_found_until_signed_out() {
        let sessions = Sessions::default();
        let s = sessions.create(Identity::AdminToken);
        assert_eq!(s.id.len(), 43);
        assert_ne!(s.id, s.csrf);
        let found = sessions.touch(&s.id).unwrap();
        assert_eq!(found.csrf, s.csrf);
        assert!(sessions.touch("not-a-session").is_none());
        sessions.remove(&s.id);
        assert!(sessions.touch(&s.id).is_none());
    }

    #[test]
    fn idle_sessions_expire_and_use_keeps_them_alive() {
        let sessions = Sessions::with_limits(Duration::from_secs(60), Duration::from_millis(80));
        let s = sessions.create(Identity::AdminToken);
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(40));
            assert!(
                sessions.touch(&s.id).is_some(),
                "use refreshes the idle timer"
            );
        }
        std::thread::sleep(Duration::from_millis(120));
        assert!(sessions.touch(&s.id).is_none(), "idle session expired");
    }

    #[test]
    fn sessions_end_at_max_age_even_when_used() {
        let sessions = Sessions::with_limits(Duration::from_millis(100), Duration::from_secs(60));
        let s = sessions.create(Identity::AdminToken);
        std::thread::sleep(Duration::from_millis(60));
        assert!(sessions.touch(&s.id).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(sessions.touch(&s.id).is_none());
    }

    #[test]
    fn microsoft_identities_name_the_person_and_carry_their_role() {
        let admin = Identity::Microsoft {
            object_id: "oid-1".into(),
            upn: "alice@example.com".into(),
            role: Role::Admin,
        };
        let employee = Identity::Microsoft {
            object_id: "oid-2".into(),
            upn: "bob@example.com".into(),
            role: Role::Employee,
        };
        assert_eq!(admin.actor(), "microsoft:alice@example.com");
        assert_eq!(admin.who(), "alice@example.com");
        assert!(admin.is_admin());
        assert!(!employee.is_admin());
        assert!(Identity::AdminToken.is_admin());
        assert_eq!(employee.object_id(), Some("oid-2"));
        assert_eq!(Identity::AdminToken.object_id(), None);
    }

    #[test]
    fn flash_is_shown_once() {
        let sessions = Sessions::default();
        let s = sessions.create(Identity::AdminToken);
        sessions.set_flash(&s.id, true, "Sync initiated successfully");
        assert_eq!(
            sessions.take_flash(&s.id).map(|f| f.text).as_deref(),
            Some("Sync initiated successfully")
        );
        assert!(sessions.take_flash(&s.id).is_none());
    }

    #[test]
    fn cookie_attributes_and_parsing() {
        let c = cookie("abc");
        for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(c.contains(attr), "{c}");
        }
        assert_eq!(
            id_from_cookie_header("a=b; entra_ldap_console=xyz; c=d"),
            Some("xyz")
        );
        assert_eq!(id_from_cookie_header("entra_ldap_console="), None);
        assert_eq!(id_from_cookie_header("other=1"), None);
    }
}
