//! Why a sync run failed, in words an admin can act on.
//!
//! Why a dedicated type: the text ends up in the run history and the admin API, so each
//! variant names what was being done (the token endpoint, a Graph path) and never carries
//! a secret or an access token.

/// A failed sync run's cause.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The configuration cannot be used to reach Entra (bad URL, unusable HTTP client).
    #[error("configuration: {0}")]
    Config(String),
    /// The identity platform refused or could not be reached.
    #[error("token request failed: {0}")]
    Token(String),
    /// A Graph request could not be sent or its response not read.
    #[error("Graph request to {path} failed: {reason}")]
    Transport { path: String, reason: String },
    /// Graph answered with an error status.
    #[error("Graph answered HTTP {status} to {path}: {detail}")]
    Status {
        path: String,
        status: u16,
        detail: String,
    },
    /// Graph kept throttling or failing transiently past the retry budget.
    #[error("Graph still answered HTTP {status} to {path} after {retries} retries; giving up")]
    GaveUp {
        path: String,
        status: u16,
        retries: u32,
    },
    /// Graph's response was not the JSON we expect (e.g. truncated).
    #[error("malformed Graph response for {path}: {reason}")]
    Malformed { path: String, reason: String },
    /// A nextLink pointed away from the configured Graph host; the token is not sent there.
    #[error("refusing to follow @odata.nextLink to {origin}: not the configured graph_url")]
    ForeignLink { origin: String },
    /// Reading or writing the store failed.
    #[error("store: {0}")]
    Store(String),
    /// The server is shutting down.
    #[error("sync cancelled: server shutting down")]
    Cancelled,
}

/// An error and its sources, joined with `: ` (reqwest's top-level messages alone say
/// little, e.g. "error sending request").
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn chain_includes_sources() {
        let e = Outer(std::io::Error::other("connection refused"));
        assert_eq!(error_chain(&e), "outer: connection refused");
    }
}
