//! The in-memory LDAP log's storage: finished operations encoded back to back in a few
//! fixed-size byte blocks, the oldest block recycled when the log is full.
//!
//! Why bytes and not one record per operation: the log holds ~10,000 operations and gets
//! thousands a second under load. A struct per operation plus a heap buffer for its texts
//! cost ~250 bytes each (2.8 MB for a full log), and every operation freed one small
//! allocation and made another, which kept allocator pages half used. Here an operation is
//! ~100 bytes (small numbers as varints, the operation name and server message as indexes
//! into a table of the program's static strings, texts as length + UTF-8) and recording one
//! allocates nothing once the blocks exist.
//!
//! Reading (the Logs page, an export) decodes on the fly; that is rare and cheap.

use super::FinishedOp;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Bytes per block: large enough that the last, partly filled block wastes little of the
/// whole, small enough that dropping the oldest forgets only a few hundred operations.
const BLOCK_BYTES: usize = 64 * 1024;

/// Longest text (bind DN, DN, detail) kept, in bytes; longer ones are cut at a character
/// boundary and end in `…`. The server log (tracing) has them whole. Why a bound: a 1 MiB
/// filter would otherwise occupy most of the log on its own.
pub(super) const MAX_TEXT_BYTES: usize = 2048;

/// Room a record may need: three bounded texts with their lengths, and the fixed fields
/// (at most 80 bytes: time, four varints, an IPv6 peer and port).
const MAX_RECORD_BYTES: usize = 3 * (MAX_TEXT_BYTES + 10) + 80;

/// See the module documentation.
pub(super) struct OpRing {
    /// Oldest first; the last one is being filled.
    blocks: VecDeque<Block>,
    /// Operations the log keeps at least (fewer only when [`OpRing::max_blocks`] binds).
    min_ops: usize,
    /// Memory bound, in blocks.
    max_blocks: usize,
    /// Every distinct operation name and server message seen; a record stores an index.
    /// The program has a few dozen such literals, so this stays tiny.
    names: Vec<&'static str>,
}

struct Block {
    bytes: Vec<u8>,
    ops: usize,
}

impl Block {
    fn new() -> Block {
        Block {
            bytes: Vec::with_capacity(BLOCK_BYTES),
            ops: 0,
        }
    }
}

impl OpRing {
    /// A ring keeping at least the newest `min_ops` operations, in at most `max_bytes`.
    pub(super) fn new(min_ops: usize, max_bytes: usize) -> OpRing {
        OpRing {
            blocks: VecDeque::new(),
            min_ops,
            max_blocks: (max_bytes / BLOCK_BYTES).max(2),
            names: Vec::new(),
        }
    }

    /// Appends `op`, dropping the oldest block of operations when the newest `min_ops`
    /// would still be kept without it, or when the memory bound is reached.
    pub(super) fn push(&mut self, op: &FinishedOp<'_>) {
        let needs_block = self
            .blocks
            .back()
            .is_none_or(|b| b.bytes.len() + MAX_RECORD_BYTES > BLOCK_BYTES);
        if needs_block {
            self.start_block();
        }
        let (op_name, message) = (self.name_index(op.op), self.name_index(op.message));
        if let Some(block) = self.blocks.back_mut() {
            encode(&mut block.bytes, op, op_name, message);
            block.ops += 1;
        }
    }

    /// Opens a new newest block, recycling the oldest one's buffer when it can go.
    fn start_block(&mut self) {
        let total = self.len();
        let oldest_can_go = self.blocks.front().is_some_and(|oldest| {
            total - oldest.ops >= self.min_ops || self.blocks.len() >= self.max_blocks
        });
        let block = match self.blocks.pop_front() {
            Some(mut oldest) if oldest_can_go => {
                oldest.bytes.clear();
                oldest.ops = 0;
                oldest
            }
            Some(oldest) => {
                self.blocks.push_front(oldest);
                Block::new()
            }
            None => Block::new(),
        };
        self.blocks.push_back(block);
    }

    /// The index of a static name in the table, added on first use. Callers pass the same
    /// literals every time, so the address comparison settles almost every lookup before
    /// the text comparison (kept for equal texts at two addresses).
    fn name_index(&mut self, name: &'static str) -> usize {
        match self
            .names
            .iter()
            .position(|n| std::ptr::eq(*n, name) || *n == name)
        {
            Some(i) => i,
            None => {
                self.names.push(name);
                self.names.len() - 1
            }
        }
    }

    /// Operations kept.
    pub(super) fn len(&self) -> usize {
        self.blocks.iter().map(|b| b.ops).sum()
    }

    /// Every kept operation, newest first.
    pub(super) fn newest_first(&self) -> impl Iterator<Item = FinishedOp<'_>> {
        self.blocks.iter().rev().flat_map(|block| {
            let mut ops = Vec::with_capacity(block.ops);
            let mut rest = block.bytes.as_slice();
            while !rest.is_empty() {
                match decode(&mut rest, &self.names) {
                    Some(op) => ops.push(op),
                    // Only this module writes the bytes; a record it cannot read back is a
                    // bug, and skipping the rest of the block is the safe reaction.
                    None => break,
                }
            }
            ops.into_iter().rev()
        })
    }
}

/// `text` cut to at most [`MAX_TEXT_BYTES`] at a character boundary, marked with `…`.
fn bounded(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_TEXT_BYTES {
        return text.into();
    }
    let mut end = MAX_TEXT_BYTES - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end]).into()
}

fn encode(out: &mut Vec<u8>, op: &FinishedOp<'_>, op_name: usize, message: usize) {
    out.extend_from_slice(&op.time_ms.to_le_bytes());
    put_varint(out, op.conn);
    // Microseconds: the console shows milliseconds with three decimals.
    put_varint(out, (op.duration_ms.max(0.0) * 1000.0).round() as u64);
    put_varint(out, zigzag(op.result));
    match op.peer.ip() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&op.peer.port().to_le_bytes());
    put_varint(out, op_name as u64);
    put_varint(out, message as u64);
    for text in [op.bind_dn, op.dn, op.detail] {
        let text = bounded(text);
        put_varint(out, text.len() as u64);
        out.extend_from_slice(text.as_bytes());
    }
}

/// Reads one record from the front of `input`, advancing it.
fn decode<'a>(input: &mut &'a [u8], names: &[&'static str]) -> Option<FinishedOp<'a>> {
    let time_ms = i64::from_le_bytes(take(input, 8)?.try_into().ok()?);
    let conn = get_varint(input)?;
    let duration_ms = get_varint(input)? as f64 / 1000.0;
    let result = unzigzag(get_varint(input)?);
    let ip = match take(input, 1)?.first()? {
        4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(take(input, 4)?).ok()?)),
        6 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(take(input, 16)?).ok()?)),
        _ => return None,
    };
    let port = u16::from_le_bytes(take(input, 2)?.try_into().ok()?);
    let op = *names.get(usize::try_from(get_varint(input)?).ok()?)?;
    let message = *names.get(usize::try_from(get_varint(input)?).ok()?)?;
    let mut texts = [""; 3];
    for text in &mut texts {
        let len = usize::try_from(get_varint(input)?).ok()?;
        *text = std::str::from_utf8(take(input, len)?).ok()?;
    }
    let [bind_dn, dn, detail] = texts;
    Some(FinishedOp {
        time_ms,
        conn,
        peer: SocketAddr::new(ip, port),
        bind_dn,
        op,
        dn,
        result,
        message,
        detail,
        duration_ms,
    })
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if input.len() < n {
        return None;
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Some(head)
}

/// LEB128: seven bits a byte, low first; small numbers (most here) take one byte.
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_varint(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *take(input, 1)?.first()?;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Small negative numbers (result codes such as -1) as small unsigned ones.
fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op<'a>(dn: &'a str, detail: &'a str) -> FinishedOp<'a> {
        FinishedOp {
            time_ms: 1_764_000_000_123,
            conn: 300,
            peer: SocketAddr::from(([10, 0, 0, 7], 50_123)),
            bind_dn: "cn=svc,dc=example,dc=com",
            op: "search",
            dn,
            result: 0,
            message: "",
            detail,
            duration_ms: 0.25,
        }
    }

    fn fields(op: &FinishedOp<'_>) -> String {
        format!(
            "{} {} {} {:?} {} {:?} {} {:?} {:?} {:.3}",
            op.time_ms,
            op.conn,
            op.peer,
            op.bind_dn,
            op.op,
            op.dn,
            op.result,
            op.message,
            op.detail,
            op.duration_ms
        )
    }

    #[test]
    fn every_field_reads_back() {
        let mut ring = OpRing::new(10, 1 << 20);
        let v6 = FinishedOp {
            peer: "[2001:db8::1]:636".parse().unwrap(),
            result: -1,
            op: "bind",
            message: "inactive user",
            conn: u64::MAX,
            duration_ms: 12_345.678,
            bind_dn: "",
            ..op("uid=jürgen,ou=people,dc=example,dc=com", "")
        };
        let cases = [op("", "scope=sub filter=(cn=é*) entries=2"), v6, op("", "")];
        for case in &cases {
            ring.push(case);
        }
        let got: Vec<String> = ring.newest_first().map(|o| fields(&o)).collect();
        let want: Vec<String> = cases.iter().rev().map(fields).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn long_texts_are_cut_at_a_character_boundary() {
        let mut ring = OpRing::new(10, 1 << 20);
        let long = "é".repeat(MAX_TEXT_BYTES);
        ring.push(&op(&long, "x"));
        let kept = ring.newest_first().next().map(|o| o.dn.to_string());
        let kept = kept.unwrap_or_default();
        assert!(kept.len() <= MAX_TEXT_BYTES, "{}", kept.len());
        assert!(kept.ends_with('…') && kept.starts_with("éé"));
        assert_eq!(ring.newest_first().next().map(|o| o.detail), Some("x"));
    }

    #[test]
    fn keeps_at_least_the_newest_and_recycles_blocks() {
        let mut ring = OpRing::new(1_000, 1 << 20);
        for i in 0..20_000 {
            ring.push(&op(&format!("uid=user{i},ou=people,dc=example,dc=com"), ""));
        }
        let kept = ring.len();
        assert!((1_000..2_500).contains(&kept), "{kept}");
        let newest: Vec<String> = ring.newest_first().take(3).map(|o| o.dn.into()).collect();
        assert_eq!(newest[0], "uid=user19999,ou=people,dc=example,dc=com");
        assert_eq!(newest[2], "uid=user19997,ou=people,dc=example,dc=com");
        assert_eq!(ring.newest_first().count(), kept);
        assert!(ring.blocks.len() <= 4, "{}", ring.blocks.len());
    }

    #[test]
    fn the_memory_bound_wins_over_the_operation_count() {
        let mut ring = OpRing::new(1_000_000, 4 * BLOCK_BYTES);
        let big = "x".repeat(MAX_TEXT_BYTES);
        for _ in 0..1_000 {
            ring.push(&op(&big, &big));
        }
        assert!(ring.blocks.len() <= 4);
        assert!(ring.len() < 1_000 && ring.len() > 20, "{}", ring.len());
    }

    #[test]
    fn varints_and_zigzag_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(get_varint(&mut buf.as_slice()), Some(v));
        }
        for v in [0i64, -1, 1, 49, -123_456, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(
            get_varint(&mut [0x80u8, 0x80].as_slice()),
            None,
            "cut short"
        );
    }
}
