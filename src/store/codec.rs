//! Versioned record encoding: one format-version byte followed by serde_json bytes.
//!
//! Why: a later release must be able to tell which layout a record was written with and
//! migrate it. A record that does not decode is reported as [`StoreError::Corrupt`] with
//! the tree it came from; it is never skipped, because a silently missing user or
//! allocation would hand its uidNumber or login name to someone else.

use super::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The record format this release writes (and the only one it reads).
pub const RECORD_FORMAT: u8 = 1;

/// Encodes `value` as `[RECORD_FORMAT] ++ json`.
pub fn encode<T: Serialize>(tree: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![RECORD_FORMAT];
    serde_json::to_writer(&mut out, value).map_err(|e| StoreError::Corrupt {
        tree,
        reason: format!("cannot encode record: {e}"),
    })?;
    Ok(out)
}

/// Decodes a record written by [`encode`]; any other format byte or bad JSON is `Corrupt`.
pub fn decode<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&RECORD_FORMAT, json)) => {
            serde_json::from_slice(json).map_err(|e| StoreError::Corrupt {
                tree,
                reason: format!("undecodable record: {e}"),
            })
        }
        Some((other, _)) => Err(StoreError::Corrupt {
            tree,
            reason: format!("unknown record format version {other}"),
        }),
        None => Err(StoreError::Corrupt {
            tree,
            reason: "empty record".to_string(),
        }),
    }
}

/// Run ids are stored big-endian so sled's byte order is numeric order.
pub fn run_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// Reads a run key back; `Corrupt` when it is not 8 bytes.
pub fn parse_run_key(key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| StoreError::Corrupt {
        tree: super::trees::RUNS,
        reason: format!("run key of {} bytes (expected 8)", key.len()),
    })?;
    Ok(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_value_and_prefixes_version() {
        let bytes = encode("t", &vec!["a".to_string()]).unwrap();
        assert_eq!(bytes[0], RECORD_FORMAT);
        let back: Vec<String> = decode("t", &bytes).unwrap();
        assert_eq!(back, vec!["a".to_string()]);
    }

    #[test]
    fn unknown_version_bad_json_and_empty_are_corrupt() {
        let mut bytes = encode("t", &1u32).unwrap();
        bytes[0] = 9;
        assert!(matches!(
            decode::<u32>("t", &bytes),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            decode::<u32>("t", &[RECORD_FORMAT, b'{']),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            decode::<u32>("t", &[]),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn run_keys_sort_numerically() {
        assert!(run_key(2) < run_key(256));
        assert_eq!(parse_run_key(&run_key(77)).unwrap(), 77);
        assert!(parse_run_key(b"abc").is_err());
    }
}
