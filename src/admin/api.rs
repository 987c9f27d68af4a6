//! Admin HTTP API routes.
