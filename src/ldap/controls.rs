//! Request controls: which we honour, which we ignore, which make us refuse.
//!
//! Why: RFC 4511 §4.1.11 says a server must refuse an operation carrying a critical control
//! it does not implement (unavailableCriticalExtension) and may ignore non-critical ones.
//! Deciding that in one place keeps every operation consistent.

use ldap3_proto::control::LdapControl;

/// The RFC 2696 paged-results request: page size and the cookie of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PagedRequest {
    pub size: i64,
    pub cookie: Vec<u8>,
}

/// The controls of one request that change what we do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct RequestControls {
    pub paged: Option<PagedRequest>,
}

/// Reads a request's controls. `Err(oid)` names a critical control we do not support.
///
/// Honoured: paged results (on searches). Accepted as no-ops: ManageDsaIT (we never return
/// referrals). Ignored: non-critical controls we do not know, and server-side sorting,
/// whose criticality the decoder does not expose (we return unsorted results, which RFC
/// 2891 allows for a non-critical request).
pub(crate) fn inspect(controls: &[LdapControl]) -> Result<RequestControls, String> {
    let mut out = RequestControls::default();
    for control in controls {
        match control {
            LdapControl::SimplePagedResults { size, cookie } => {
                out.paged = Some(PagedRequest {
                    size: *size,
                    cookie: cookie.clone(),
                });
            }
            LdapControl::ManageDsaIT { .. } => {}
            LdapControl::Unknown {
                oid, criticality, ..
            } => {
                if *criticality {
                    return Err(oid.clone());
                }
            }
            other => {
                if let Some(oid) = critical_unsupported_oid(other) {
                    return Err(oid.to_string());
                }
            }
        }
    }
    Ok(out)
}

/// The OID of a control the decoder knows but we do not implement, when marked critical.
fn critical_unsupported_oid(control: &LdapControl) -> Option<&'static str> {
    match control {
        LdapControl::SyncRequest {
            criticality: true, ..
        } => Some("1.3.6.1.4.1.4203.1.9.1.1"),
        LdapControl::PasswordPolicyRequest { criticality: true } => {
            Some("1.3.6.1.4.1.42.2.27.8.5.1")
        }
        LdapControl::SearchOptions {
            criticality: true, ..
        } => Some("1.2.840.113556.1.4.1338"),
        LdapControl::ShowDeleted { criticality: true } => Some("1.2.840.113556.1.4.417"),
        LdapControl::SdFlags {
            criticality: true, ..
        } => Some("1.2.840.113556.1.4.801"),
        LdapControl::ExtendedDn {
            criticality: true, ..
        } => Some("1.2.840.113556.1.4.529"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_critical_control_is_refused() {
        let controls = vec![LdapControl::Unknown {
            oid: "1.2.3.4".into(),
            criticality: true,
            value: None,
        }];
        assert_eq!(inspect(&controls), Err("1.2.3.4".to_string()));
    }

    #[test]
    fn unknown_non_critical_control_is_ignored() {
        let controls = vec![LdapControl::Unknown {
            oid: "1.2.3.4".into(),
            criticality: false,
            value: Some(b"x".to_vec()),
        }];
        assert_eq!(inspect(&controls), Ok(RequestControls::default()));
    }

    #[test]
    fn known_but_unsupported_critical_control_is_refused() {
        let controls = vec![LdapControl::ShowDeleted { criticality: true }];
        assert_eq!(
            inspect(&controls),
            Err("1.2.840.113556.1.4.417".to_string())
        );
        let controls = vec![LdapControl::ShowDeleted { criticality: false }];
        assert!(inspect(&controls).is_ok());
    }

    #[test]
    fn paged_and_manage_dsa_it_are_accepted() {
        let controls = vec![
            LdapControl::ManageDsaIT { criticality: true },
            LdapControl::SimplePagedResults {
                size: 10,
                cookie: vec![1, 2],
            },
        ];
        let got = inspect(&controls).unwrap();
        assert_eq!(
            got.paged,
            Some(PagedRequest {
                size: 10,
                cookie: vec![1, 2]
            })
        );
    }
}
