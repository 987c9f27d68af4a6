//! RFC 4514 distinguished names: parsing with escapes, normalisation, comparison.
