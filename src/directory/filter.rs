//! RFC 4511 filter evaluation against snapshot entries, and index planning.
