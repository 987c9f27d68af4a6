//! entra-ldap: an LDAP/LDAPS directory server that mirrors a Microsoft Entra ID tenant.
//!
//! Data flows one way: Graph → [`sync`] → [`store`] (sled) → [`directory`] snapshot →
//! [`ldap`] listener → clients. [`admin`] is a thin HTTP layer over store and sync, and
//! [`console`] the admin web pages over the same functions;
//! [`simulator`] is a fake tenant for the demo and tests. [`app`] wires it all together.

#![forbid(unsafe_code)]

pub mod activity;
pub mod admin;
pub mod app;
pub mod auth;
pub mod config;
pub mod console;
pub mod demo;
pub mod directory;
pub mod ldap;
pub mod metrics;
pub mod model;
pub mod secrets;
pub mod simulator;
pub mod ssh_key;
pub mod store;
pub mod sync;
pub mod tls;
