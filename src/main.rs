//! The `entra-ldap` binary: a thin command-line layer over the library.
fn main() {}
