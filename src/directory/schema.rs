//! Attribute types, matching rules and object classes we serve (and `cn=Subschema`).
