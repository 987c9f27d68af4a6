//! Wires config → store → directory → LDAP listener, sync worker and admin API.
