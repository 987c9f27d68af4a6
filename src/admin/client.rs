//! CLI client of the admin API.
