//! [`Keyed`]: a map of the read models (models, experiments, runs, alerts) kept in blocks of
//! consecutive keys, each of which may stay in the snapshot it was restored from until
//! something reads it (`docs/adr/0027-keyed-parts-read-on-demand.md`, ADR 0030), and the keyed parts of a snapshot's domain
//! section that hold such maps (`docs/FORMAT.md`, section 19).
//!
//! A keyed part is a `u32` (little-endian) count of blocks, then a table of the blocks, then
//! the blocks' bytes one after the other. Each row of the table is the block's first key (a
//! `u32` length, then its UTF-8 bytes), its number of entries (`u64`), its length in bytes
//! (`u64`) and the blake3 digest of those bytes (32 bytes). A block is one MessagePack map of
//! its entries, keys ascending, every key below the next block's first key. Entries are cut
//! into blocks in key order: a block ends with the entry that brings the bytes of its keys and
//! values to [`BLOCK_BYTES`] or more, and the last block takes what is left; an empty map is
//! no block at all. So the bytes of a part depend on the map alone.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use ledger::snapshot::SharedSection;
use serde::{Deserialize, Serialize};

/// The bytes of keys and values after which a block of a keyed part ends.
pub const BLOCK_BYTES: usize = 16 * 1024;

/// How the values of a keyed map are written in a block and read back: most values are their
/// own MessagePack ([`plain_entry`]); a model is written with its versions' details beside it
/// in their compact layout (ADR 0030).
pub trait Entry: Sized {
    /// What one value of a block decodes to before it is [`Entry::restore`]d.
    type Stored: serde::de::DeserializeOwned;
    /// Appends the value of `key` as a block holds it.
    fn write(&self, key: &str, out: &mut Vec<u8>);
    /// The value of `key` from what its block held; an error names what does not fit.
    fn restore(key: &str, stored: Self::Stored) -> Result<Self, String>;
}

/// Implements [`Entry`] for types whose block value is their own MessagePack.
#[macro_export]
macro_rules! plain_entry {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::keyed::Entry for $t {
            type Stored = $t;
            fn write(&self, _key: &str, out: &mut Vec<u8>) {
                rmp_serde::encode::write(out, self).expect("the state encodes");
            }
            fn restore(_key: &str, stored: $t) -> Result<$t, String> {
                Ok(stored)
            }
        }
    )*};
}

plain_entry!(String, (u64, String));

/// A map from text keys to `V` in blocks of consecutive keys. A map built in memory, folded
/// from events or decoded whole from a snapshot, holds every block; one restored on demand
/// (`State::from_section_on_demand`) reads a block from its snapshot the first time a key in
/// it (or the whole map) is read or changed, checking the block's digest, its entries and
/// their range.
/// A block that fails is held as empty and the map remembers why ([`Keyed::damage`]): every
/// answer of the map after that may be wrong, and whoever restored it on demand must ask.
pub struct Keyed<V> {
    /// At least one; the first one's `first` is empty (it covers every key below the second).
    blocks: Vec<Block<V>>,
    /// Where the blocks not read yet are.
    source: Option<Source>,
    damage: OnceLock<String>,
}

struct Block<V> {
    /// The lowest key it may hold ("" for the first block).
    first: String,
    /// Where it is in the snapshot, when it came from one.
    stored: Option<Stored>,
    map: OnceLock<BTreeMap<String, V>>,
}

#[derive(Clone, Debug)]
struct Stored {
    /// Offset in the section of its bytes.
    at: u64,
    len: u64,
    entries: u64,
    digest: [u8; 32],
    /// Its first key as the table gives it.
    first: String,
    /// The next block's first key: every key of this block is below it.
    below: Option<String>,
}

#[derive(Clone, Debug)]
struct Source {
    section: SharedSection,
    part: &'static str,
}

impl<V: Clone> Clone for Block<V> {
    fn clone(&self) -> Self {
        Block { first: self.first.clone(), stored: self.stored.clone(), map: self.map.clone() }
    }
}

impl<V: Clone> Clone for Keyed<V> {
    fn clone(&self) -> Self {
        Keyed { blocks: self.blocks.clone(), source: self.source.clone(), damage: self.damage.clone() }
    }
}

impl<V> Default for Keyed<V> {
    fn default() -> Self {
        Keyed::from(BTreeMap::new())
    }
}

impl<V> From<BTreeMap<String, V>> for Keyed<V> {
    fn from(map: BTreeMap<String, V>) -> Self {
        Keyed {
            blocks: vec![Block { first: String::new(), stored: None, map: OnceLock::from(map) }],
            source: None,
            damage: OnceLock::new(),
        }
    }
}

impl<V> FromIterator<(String, V)> for Keyed<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> Self {
        Keyed::from(iter.into_iter().collect::<BTreeMap<_, _>>())
    }
}

impl<V> Keyed<V> {
    /// The block that holds `key` if any does.
    fn block_of(&self, key: &str) -> usize {
        // The first block's `first` is "", below or equal to every key.
        self.blocks.partition_point(|b| b.first.as_str() <= key) - 1
    }

    /// Why a block read on demand could not be read, if one could not (the first such).
    pub fn damage(&self) -> Option<&str> {
        self.damage.get().map(String::as_str)
    }

    /// How many entries: blocks not read are counted from the snapshot's table.
    pub fn len(&self) -> usize {
        self.blocks
            .iter()
            .map(|b| match (b.map.get(), &b.stored) {
                (Some(m), _) => m.len(),
                (None, Some(s)) => usize::try_from(s.entries).unwrap_or(usize::MAX),
                (None, None) => 0,
            })
            .sum()
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many blocks have been read from the snapshot, and how many it has: for tests and
    /// measurements of what a command reads.
    pub fn blocks_read(&self) -> (usize, usize) {
        let stored = self.blocks.iter().filter(|b| b.stored.is_some());
        let (read, all) = stored.fold((0, 0), |(r, a), b| (r + usize::from(b.map.get().is_some()), a + 1));
        (read, all)
    }

    /// The blocks held in memory (read from the snapshot, or never in one), each with the
    /// range of keys it covers, from its first key up to the next block's first (`None` for
    /// the last), and its entries. Every entry of the map that is not in one of them is as the
    /// snapshot the map was restored from holds it: nothing can change a block without
    /// reading it first.
    pub fn blocks_in_memory(&self) -> impl Iterator<Item = (&str, Option<&str>, &BTreeMap<String, V>)> + '_ {
        self.blocks.iter().enumerate().filter_map(|(i, b)| {
            let below = self.blocks.get(i + 1).map(|next| next.first.as_str());
            b.map.get().map(|m| (b.first.as_str(), below, m))
        })
    }
}

impl<V: Entry> Keyed<V> {
    /// Block `i`'s entries, read from the snapshot first if they are not yet.
    fn block(&self, i: usize) -> &BTreeMap<String, V> {
        let b = &self.blocks[i];
        b.map.get_or_init(|| {
            let (Some(source), Some(stored)) = (&self.source, &b.stored) else { return BTreeMap::new() };
            match read_block(source, stored) {
                Ok(map) => map,
                Err(reason) => {
                    let _ = self.damage.set(format!("the domain section: part `{}`: {reason}", source.part));
                    BTreeMap::new()
                }
            }
        })
    }

    fn block_mut(&mut self, i: usize) -> &mut BTreeMap<String, V> {
        self.block(i);
        self.blocks[i].map.get_mut().expect("read just above")
    }

    /// Every block read (what a question over the whole map needs).
    pub fn read_all(&self) {
        for i in 0..self.blocks.len() {
            self.block(i);
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.block(self.block_of(key)).get(key)
    }

    /// The value of `key`, to change.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let i = self.block_of(key);
        self.block_mut(i).get_mut(key)
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets the value of `key`, returning the one it replaces.
    pub fn insert(&mut self, key: String, value: V) -> Option<V> {
        let i = self.block_of(&key);
        self.block_mut(i).insert(key, value)
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.block_of(key);
        self.block_mut(i).remove(key)
    }

    /// Every entry in key order (every block read).
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> + '_ {
        (0..self.blocks.len()).flat_map(move |i| self.block(i).iter())
    }

    /// Every key in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// Every value in key order.
    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// Every value in key order, to change.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> + '_ {
        self.iter_mut().map(|(_, v)| v)
    }

    /// The whole map, every block read.
    pub fn into_map(self) -> BTreeMap<String, V> {
        self.read_all();
        let mut map = BTreeMap::new();
        for b in self.blocks {
            map.append(&mut b.map.into_inner().expect("every block read"));
        }
        map
    }

    /// Every entry in key order, its value to change (every block read).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&String, &mut V)> + '_ {
        self.read_all();
        self.blocks.iter_mut().flat_map(|b| b.map.get_mut().expect("every block read").iter_mut())
    }
}

impl<V: Entry> std::ops::Index<&str> for Keyed<V> {
    type Output = V;
    fn index(&self, key: &str) -> &V {
        self.get(key).expect("no entry found for key")
    }
}

impl<V: Entry> std::ops::Index<&String> for Keyed<V> {
    type Output = V;
    fn index(&self, key: &String) -> &V {
        &self[key.as_str()]
    }
}

impl<V: Entry + PartialEq> PartialEq for Keyed<V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<V: Entry + std::fmt::Debug> std::fmt::Debug for Keyed<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V: Entry + Serialize> Serialize for Keyed<V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Keyed<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::state::bulk_map(d).map(Keyed::from)
    }
}

impl<'a, V: Entry> IntoIterator for &'a Keyed<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = Box<dyn Iterator<Item = (&'a String, &'a V)> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// The MessagePack header of a map of `n` entries, as rmp writes it (the shortest form).
fn map_header(n: usize, out: &mut Vec<u8>) {
    if n < 16 {
        out.push(0x80 | n as u8);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(0xde);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0xdf);
        out.extend_from_slice(&u32::try_from(n).expect("fewer than 2^32 entries").to_be_bytes());
    }
}

/// Writes `map` as a keyed part (module doc), without the part's length.
pub(crate) fn write_part<V: Entry>(map: &Keyed<V>, out: &mut Vec<u8>) {
    let mut table: Vec<u8> = Vec::new();
    let mut blocks: Vec<u8> = Vec::new();
    let mut pairs: Vec<u8> = Vec::with_capacity(BLOCK_BYTES + 1024);
    let mut count = 0u32;
    let mut in_block = 0usize;
    let mut first: Option<&String> = None;
    let mut close = |pairs: &mut Vec<u8>, in_block: &mut usize, first: &mut Option<&String>| {
        let Some(key) = first.take() else { return };
        let at = blocks.len();
        map_header(*in_block, &mut blocks);
        blocks.extend_from_slice(pairs);
        let bytes = &blocks[at..];
        table.extend_from_slice(&u32::try_from(key.len()).expect("a key under 4 GiB").to_le_bytes());
        table.extend_from_slice(key.as_bytes());
        table.extend_from_slice(&(*in_block as u64).to_le_bytes());
        table.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        table.extend_from_slice(blake3::hash(bytes).as_bytes());
        count += 1;
        pairs.clear();
        *in_block = 0;
    };
    for (key, value) in map.iter() {
        first.get_or_insert(key);
        rmp_serde::encode::write(&mut pairs, key).expect("a key encodes");
        value.write(key, &mut pairs);
        in_block += 1;
        if pairs.len() >= BLOCK_BYTES {
            close(&mut pairs, &mut in_block, &mut first);
        }
    }
    close(&mut pairs, &mut in_block, &mut first);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&table);
    out.extend_from_slice(&blocks);
}

/// The table of a keyed part of `len` bytes read from `part` (positioned at its start), each
/// row's offset relative to the part's start. Checks that the rows' lengths add up to the
/// part's and that the first keys ascend.
fn read_table(part: &mut impl std::io::Read, len: u64) -> Result<Vec<Stored>, String> {
    let mut read = |n: usize| -> Result<Vec<u8>, String> {
        let mut buf = vec![0u8; n];
        part.read_exact(&mut buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => "its block table is cut short".to_string(),
            _ => e.to_string(),
        })?;
        Ok(buf)
    };
    let u32_of = |b: Vec<u8>| u32::from_le_bytes(b.try_into().expect("four bytes"));
    let u64_of = |b: Vec<u8>| u64::from_le_bytes(b.try_into().expect("eight bytes"));
    let count = u32_of(read(4)?) as u64;
    // Each row takes at least 52 bytes of the part.
    if count.saturating_mul(52) > len {
        return Err(format!("its table names {count} blocks, more than its {len} bytes can hold"));
    }
    let mut rows: Vec<Stored> = Vec::with_capacity(count as usize);
    let mut table_len = 4u64;
    let mut at = 0u64;
    for i in 0..count {
        let key_len = u32_of(read(4)?) as u64;
        if key_len > len {
            return Err(format!("block {i}'s first key is longer than the part"));
        }
        let first = String::from_utf8(read(key_len as usize)?)
            .map_err(|_| format!("block {i}'s first key is not UTF-8"))?;
        let entries = u64_of(read(8)?);
        let bytes = u64_of(read(8)?);
        let digest: [u8; 32] = read(32)?.try_into().expect("32 bytes");
        if entries == 0 {
            return Err(format!("block {i} holds no entry"));
        }
        if let Some(prev) = rows.last_mut() {
            if prev.first >= first {
                return Err(format!("block {i}'s first key `{first}` is not above the block before's"));
            }
            prev.below = Some(first.clone());
        }
        table_len += 52 + key_len;
        rows.push(Stored { at, len: bytes, entries, digest, first, below: None });
        at = at.checked_add(bytes).ok_or("its blocks' lengths overflow")?;
    }
    if table_len.checked_add(at) != Some(len) {
        return Err(format!(
            "its table and blocks take {} bytes, the part {len}",
            table_len.saturating_add(at)
        ));
    }
    for row in &mut rows {
        row.at += table_len;
    }
    Ok(rows)
}

/// Decodes one block's bytes and checks them against its row of the table.
fn decode_block<V: Entry>(stored: &Stored, bytes: &[u8]) -> Result<BTreeMap<String, V>, String> {
    if blake3::hash(bytes).as_bytes() != &stored.digest {
        return Err(format!("the block at key `{}` does not match its digest", stored.first));
    }
    let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
    let pairs: Vec<(String, V::Stored)> = crate::state::map_entries_within(&mut de, bytes.len() / 2)
        .map_err(|e| format!("the block at key `{}`: {e}", stored.first))?;
    let mut restored = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        match V::restore(&key, value) {
            Ok(value) => restored.push((key, value)),
            Err(e) => return Err(format!("the block at key `{}`: the value of `{key}`: {e}", stored.first)),
        }
    }
    // Built in bulk from the entries in order; a key given twice keeps its last value.
    let map = BTreeMap::from_iter(restored);
    if map.len() as u64 != stored.entries {
        return Err(format!(
            "the block at key `{}` holds {} distinct entries, its table says {}",
            stored.first,
            map.len(),
            stored.entries
        ));
    }
    let (lowest, highest) = (map.keys().next(), map.keys().next_back());
    if lowest != Some(&stored.first) {
        return Err(format!("the block at key `{}` does not start with that key", stored.first));
    }
    if let (Some(highest), Some(below)) = (highest, &stored.below) {
        if highest >= below {
            return Err(format!(
                "the block at key `{}` holds `{highest}`, not below the next block's first key",
                stored.first
            ));
        }
    }
    Ok(map)
}

fn read_block<V: Entry>(source: &Source, stored: &Stored) -> Result<BTreeMap<String, V>, String> {
    let bytes = source.section.read_at(stored.at, stored.len).map_err(|e| e.to_string())?;
    decode_block(stored, &bytes)
}

/// A keyed part of `len` bytes decoded whole from `part` (positioned at its start, after the
/// part's length), each block checked.
pub(crate) fn read_part<V: Entry>(part: &mut impl std::io::Read, len: u64) -> Result<Keyed<V>, String> {
    let rows = read_table(part, len)?;
    let mut blocks = Vec::with_capacity(rows.len().max(1));
    let mut buf = Vec::new();
    for (i, stored) in rows.into_iter().enumerate() {
        buf.resize(usize::try_from(stored.len).map_err(|_| "a block too long to read")?, 0);
        part.read_exact(&mut buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => "it is cut short".to_string(),
            _ => e.to_string(),
        })?;
        let map = decode_block(&stored, &buf)?;
        let first = if i == 0 { String::new() } else { stored.first };
        blocks.push(Block { first, stored: None, map: OnceLock::from(map) });
    }
    if blocks.is_empty() {
        return Ok(Keyed::default());
    }
    Ok(Keyed { blocks, source: None, damage: OnceLock::new() })
}

/// A keyed part of `len` bytes at `at` in `section`, its table read and its blocks left to be
/// read when first needed.
pub(crate) fn part_on_demand<V>(
    section: &SharedSection,
    at: u64,
    len: u64,
    part: &'static str,
) -> Result<Keyed<V>, String> {
    use std::io::{Read, Seek};
    let mut reader = section.section().reader();
    reader.seek(std::io::SeekFrom::Start(at)).map_err(|e| e.to_string())?;
    let rows = read_table(&mut reader.take(len), len)?;
    if rows.is_empty() {
        return Ok(Keyed::default());
    }
    let blocks = rows
        .into_iter()
        .enumerate()
        .map(|(i, mut stored)| {
            stored.at += at;
            let first = if i == 0 { String::new() } else { stored.first.clone() };
            Block { first, stored: Some(stored), map: OnceLock::new() }
        })
        .collect();
    Ok(Keyed { blocks, source: Some(Source { section: section.clone(), part }), damage: OnceLock::new() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A value of some size, so that maps of a few hundred entries take several blocks.
    type Value = (u64, String);

    fn encoded(map: &BTreeMap<String, Value>) -> Vec<u8> {
        let mut out = Vec::new();
        write_part(&Keyed::from(map.clone()), &mut out);
        out
    }

    fn on_demand(part: &[u8]) -> Result<Keyed<Value>, String> {
        let section = ledger::snapshot::DomainSection::in_memory(part).shared();
        part_on_demand(&section, 0, part.len() as u64, "test")
    }

    fn whole(part: &[u8]) -> Result<Keyed<Value>, String> {
        read_part(&mut &part[..], part.len() as u64)
    }

    fn map_of(n: usize, width: usize) -> BTreeMap<String, Value> {
        (0..n)
            .map(|i| (format!("key-{:05}", i * 7919 % 100_000), (i as u64, "v".repeat(width + i % 13))))
            .collect()
    }

    #[derive(Clone, Debug)]
    enum Op {
        Get(String),
        Insert(String, Value),
        Remove(String),
        Change(String, u64),
        Len,
        Iter,
    }

    fn op(keys: Vec<String>) -> impl Strategy<Value = Op> {
        let key = prop_oneof![proptest::sample::select(keys), "[a-z0-9-]{0,12}"];
        prop_oneof![
            key.clone().prop_map(Op::Get),
            (key.clone(), any::<u64>(), "[a-z]{0,300}").prop_map(|(k, n, s)| Op::Insert(k, (n, s))),
            key.clone().prop_map(Op::Remove),
            (key, any::<u64>()).prop_map(|(k, n)| Op::Change(k, n)),
            Just(Op::Len),
            Just(Op::Iter),
        ]
    }

    /// `op` on `keyed` and on `expected`, which must answer the same.
    fn step(
        keyed: &mut Keyed<Value>,
        expected: &mut BTreeMap<String, Value>,
        op: &Op,
    ) -> Result<(), TestCaseError> {
        match op {
            Op::Get(k) => {
                prop_assert_eq!(keyed.get(k), expected.get(k));
                prop_assert_eq!(keyed.contains_key(k), expected.contains_key(k));
            }
            Op::Insert(k, v) => {
                prop_assert_eq!(keyed.insert(k.clone(), v.clone()), expected.insert(k.clone(), v.clone()))
            }
            Op::Remove(k) => prop_assert_eq!(keyed.remove(k), expected.remove(k)),
            Op::Change(k, n) => {
                prop_assert_eq!(keyed.get_mut(k).map(|v| v.0 = *n), expected.get_mut(k).map(|v| v.0 = *n));
            }
            Op::Len => prop_assert_eq!(keyed.len(), expected.len()),
            Op::Iter => prop_assert!(keyed.iter().eq(expected.iter())),
        }
        prop_assert_eq!(keyed.damage(), None);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// A map read on demand answers every read and takes every change as the map it was
        /// written from does, and so does the map decoded whole; written again, either gives
        /// the bytes the plain map gives.
        #[test]
        fn a_map_read_on_demand_behaves_as_the_map_it_was_written_from(
            (n, width, ops) in (0usize..400, 0usize..120).prop_flat_map(|(n, width)| {
                let keys: Vec<String> = map_of(n.max(1), width).into_keys().collect();
                (Just(n), Just(width), proptest::collection::vec(op(keys), 0..60))
            })
        ) {
            let mut model = map_of(n, width);
            let part = encoded(&model);
            let mut lazy = on_demand(&part).unwrap();
            let mut eager = whole(&part).unwrap();
            prop_assert_eq!(lazy.len(), model.len());
            for op in ops {
                let mut expected = model.clone();
                step(&mut lazy, &mut expected, &op)?;
                step(&mut eager, &mut model, &op)?;
                prop_assert_eq!(&expected, &model);
            }
            prop_assert!(lazy.iter().eq(model.iter()));
            prop_assert!(eager == lazy);
            prop_assert_eq!(lazy.len(), model.len());
            let mut again = Vec::new();
            write_part(&lazy, &mut again);
            prop_assert_eq!(&again, &encoded(&model));
        }
    }

    #[test]
    fn blocks_cut_where_the_format_says_and_one_read_reads_one_block() {
        let map = map_of(600, 100);
        let part = encoded(&map);
        let lazy = on_demand(&part).unwrap();
        let (_, blocks) = lazy.blocks_read();
        // Each entry is about 120 to 130 bytes: a block ends at the first entry that brings it to
        // BLOCK_BYTES, so every block but the last holds at least that much.
        assert!(blocks >= 4, "{blocks} blocks");
        assert_eq!(lazy.blocks_read().0, 0, "nothing read before a key is asked for");
        let key = map.keys().nth(300).unwrap();
        assert_eq!(lazy.get(key), map.get(key));
        assert_eq!(lazy.blocks_read(), (1, blocks));
        assert_eq!(lazy.get("zzz"), None);
        assert_eq!(lazy.blocks_read(), (2, blocks), "a key past the last block reads the last block");
        assert_eq!(lazy.len(), 600, "counting reads no block");
        assert_eq!(lazy.blocks_read(), (2, blocks));
        // The empty map is no block at all.
        let empty = encoded(&BTreeMap::new());
        assert_eq!(empty, 0u32.to_le_bytes());
        assert!(on_demand(&empty).unwrap().is_empty());
    }

    /// Every byte of a part changed, one at a time: the part is refused when opened (its table),
    /// or reading every block on demand finds the damage, and decoding it whole refuses it.
    /// Never a map with other entries and no damage.
    #[test]
    fn every_changed_byte_of_a_keyed_part_is_found() {
        let map = map_of(600, 60);
        let part = encoded(&map);
        let table_end = 4 + on_demand(&part)
            .unwrap()
            .blocks
            .iter()
            .map(|b| 52 + b.stored.as_ref().unwrap().first.len())
            .sum::<usize>();
        let sampled = (0..part.len()).filter(|i| *i < table_end + 64 || i % 61 == 0 || *i >= part.len() - 64);
        let mut checked = 0;
        for i in sampled {
            let mut bad = part.clone();
            bad[i] ^= 0x01;
            assert!(whole(&bad).is_err(), "byte {i}: decoded whole");
            if let Ok(lazy) = on_demand(&bad) {
                lazy.read_all();
                assert!(lazy.damage().is_some(), "byte {i}: read on demand with no damage");
            }
            checked += 1;
        }
        assert!(checked > 500);
        // Cut short anywhere: refused whole, and on demand when opened or when read.
        for cut in (0..part.len()).step_by(97) {
            assert!(whole(&part[..cut]).is_err(), "cut at {cut}");
            if let Ok(lazy) = on_demand(&part[..cut]) {
                lazy.read_all();
                assert!(lazy.damage().is_some(), "cut at {cut}: read on demand with no damage");
            }
        }
    }

    /// `schemas/vectors/keyed-part.json`: a map of three text values (each a character
    /// repeated) as a keyed part, byte for byte, with its blocks' rows; the first block ends
    /// after the entry that brings it past `BLOCK_BYTES`. `PLEDGE_WRITE_VECTORS=1` rewrites it.
    #[test]
    fn keyed_part_vector() {
        let entries = [("a", 'x', 9000usize), ("b", 'y', 9000), ("c", 'z', 5)];
        let map: BTreeMap<String, String> =
            entries.iter().map(|(k, c, n)| (k.to_string(), c.to_string().repeat(*n))).collect();
        let mut part = Vec::new();
        write_part(&Keyed::from(map.clone()), &mut part);
        let decoded: Keyed<String> = read_part(&mut &part[..], part.len() as u64).unwrap();
        assert!(decoded.iter().eq(map.iter()));
        let section = ledger::snapshot::DomainSection::in_memory(&part).shared();
        let lazy: Keyed<String> = part_on_demand(&section, 0, part.len() as u64, "vector").unwrap();
        let rows: Vec<serde_json::Value> = lazy
            .blocks
            .iter()
            .map(|b| {
                let s = b.stored.as_ref().unwrap();
                let digest: String = s.digest.iter().map(|b| format!("{b:02x}")).collect();
                serde_json::json!({"first_key": s.first, "entries": s.entries, "bytes": s.len, "blake3": digest})
            })
            .collect();
        assert_eq!(rows.len(), 2);
        let hex: String = part.iter().map(|b| format!("{b:02x}")).collect();
        let vector = serde_json::json!({
            "block_bytes": BLOCK_BYTES,
            "entries": entries.iter().map(|(k, c, n)| serde_json::json!({"key": k, "value": {"char": c.to_string(), "repeat": n}})).collect::<Vec<_>>(),
            "blocks": rows,
            "part_hex": hex,
        });
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/vectors/keyed-part.json");
        let text = serde_json::to_string_pretty(&vector).unwrap() + "\n";
        if std::env::var_os("PLEDGE_WRITE_VECTORS").is_some() {
            std::fs::write(&path, text).unwrap();
            return;
        }
        let stored: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(stored, vector, "keyed-part.json differs from what the code writes");
    }

    /// A block read after its bytes changed in the file under the reader (the snapshot written
    /// over in place once its checksum was checked) is damage, not a quietly other map.
    #[test]
    fn a_block_changed_after_opening_is_damage() {
        let map = map_of(1000, 60);
        let part = encoded(&map);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part");
        std::fs::write(&path, &part).unwrap();
        let file = std::sync::Arc::new(std::fs::File::open(&path).unwrap());
        let section = ledger::snapshot::SharedSection::of_file(file, 0, part.len() as u64);
        let lazy: Keyed<Value> = part_on_demand(&section, 0, part.len() as u64, "runs").unwrap();
        let first = map.keys().next().unwrap();
        assert_eq!(lazy.get(first), map.get(first));
        let mut changed = part.clone();
        let last = changed.len() - 3;
        changed[last] ^= 0x01;
        std::fs::write(&path, &changed).unwrap();
        let key = map.keys().last().unwrap();
        assert_eq!(lazy.get(key), None, "the damaged block is held as empty");
        let damage = lazy.damage().unwrap();
        assert!(damage.contains("part `runs`") && damage.contains("does not match its digest"), "{damage}");
    }
}
