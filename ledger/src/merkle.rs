//! The RFC 6962 Merkle tree over the events (`docs/FORMAT.md`, section 15): SHA-256, leaf hash
//! `SHA-256(0x00 || event bytes)`, node hash `SHA-256(0x01 || left || right)`, the events in
//! sequence order as leaves. The same tree as Certificate Transparency and C2SP `tlog-tiles`, so
//! standard transparency-log tools can check its proofs.
//!
//! The store keeps the root of every complete perfect subtree (at most two nodes per leaf,
//! written with the events they cover); this module computes roots at any size, inclusion and
//! consistency proofs from them, and verifies proofs (RFC 9162, sections 2.1.3.2 and 2.1.4.2).
//!
//! ```
//! use ledger::merkle::{self, CompactRange, MemoryTree};
//! let mut tree = MemoryTree::default();
//! for leaf in [&b"a"[..], b"b", b"c"] {
//!     tree.push(merkle::leaf_hash(leaf));
//! }
//! let root = merkle::root(&tree, 3).unwrap();
//! let proof = merkle::inclusion_proof(&tree, 1, 3).unwrap();
//! merkle::verify_inclusion(1, 3, &merkle::leaf_hash(b"b"), &proof, &root).unwrap();
//! ```

use sha2::{Digest as _, Sha256};

/// A SHA-256 hash: a leaf, a node or a root.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || bytes)`.
pub fn leaf_hash(bytes: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(bytes);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Where the roots of complete perfect subtrees are kept: the node at `level` (0 = leaves)
/// and `index` covers leaves `index * 2^level .. (index + 1) * 2^level`.
pub trait Nodes {
    /// The node, or why it cannot be read (missing, storage failure).
    fn node(&self, level: u8, index: u64) -> Result<Hash, String>;
}

/// The roots of the perfect subtrees a tree of `size` leaves decomposes into, left to right:
/// one per set bit of `size`, as `(level, index)`.
pub fn peaks(size: u64) -> Vec<(u8, u64)> {
    let mut out = Vec::new();
    let mut start = 0u64;
    for level in (0..64u8).rev() {
        if size & (1u64 << level) != 0 {
            out.push((level, start >> level));
            start += 1u64 << level;
        }
    }
    out
}

/// The largest power of two smaller than `n` (n > 1): RFC 6962's split point `k`.
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH of the leaves `start .. start + n` (n ≥ 1), from the stored perfect subtrees.
fn subtree_root(nodes: &impl Nodes, start: u64, n: u64) -> Result<Hash, String> {
    if n.is_power_of_two() && start % n == 0 {
        return nodes.node(n.trailing_zeros() as u8, start / n);
    }
    let k = split(n);
    Ok(node_hash(&subtree_root(nodes, start, k)?, &subtree_root(nodes, start + k, n - k)?))
}

/// The root of the tree of the first `size` leaves (RFC 6962 MTH).
pub fn root(nodes: &impl Nodes, size: u64) -> Result<Hash, String> {
    if size == 0 {
        return Ok(empty_root());
    }
    subtree_root(nodes, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 6962 PATH), from the
/// leaf's sibling up to the root's child.
pub fn inclusion_proof(nodes: &impl Nodes, index: u64, size: u64) -> Result<Vec<Hash>, String> {
    if index >= size {
        return Err(format!("leaf {index} is not in a tree of {size} leaves"));
    }
    // PATH(m, D[start, start + n)), built bottom-up by walking down and reversing.
    let (mut m, mut start, mut n) = (index, 0u64, size);
    let mut path = Vec::new();
    while n > 1 {
        let k = split(n);
        if m < k {
            path.push(subtree_root(nodes, start + k, n - k)?);
            n = k;
        } else {
            path.push(subtree_root(nodes, start, k)?);
            m -= k;
            start += k;
            n -= k;
        }
    }
    path.reverse();
    Ok(path)
}

/// The consistency proof from the tree of `old` leaves to the tree of `new` leaves (RFC 6962
/// PROOF), for 0 < old ≤ new.
pub fn consistency_proof(nodes: &impl Nodes, old: u64, new: u64) -> Result<Vec<Hash>, String> {
    if old == 0 || old > new {
        return Err(format!("no consistency proof from a tree of {old} leaves to one of {new}"));
    }
    // SUBPROOF(m, D[start, start + n), b), walking down; the nodes come out top-down.
    let (mut m, mut start, mut n, mut whole) = (old, 0u64, new, true);
    let mut proof = Vec::new();
    while m != n {
        let k = split(n);
        if m <= k {
            proof.push(subtree_root(nodes, start + k, n - k)?);
            n = k;
        } else {
            proof.push(subtree_root(nodes, start, k)?);
            m -= k;
            start += k;
            n -= k;
            whole = false;
        }
    }
    if !whole {
        proof.push(subtree_root(nodes, start, n)?);
    }
    proof.reverse();
    Ok(proof)
}

/// Checks an inclusion proof (RFC 9162, section 2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), String> {
    if index >= size {
        return Err(format!("leaf {index} is not in a tree of {size} leaves"));
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err("the inclusion proof is longer than the tree is deep".into());
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err("the inclusion proof is shorter than the tree is deep".into());
    }
    if &r != root {
        return Err("the inclusion proof does not lead to the root".into());
    }
    Ok(())
}

/// Checks a consistency proof from (`old`, `old_root`) to (`new`, `new_root`) (RFC 9162,
/// section 2.1.4.2). Equal sizes need an empty proof and equal roots; a proof from the empty
/// tree proves nothing and is refused.
pub fn verify_consistency(
    old: u64,
    new: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), String> {
    if old > new {
        return Err(format!("a tree of {new} leaves cannot extend one of {old}"));
    }
    if old == 0 {
        return Err("a consistency proof from the empty tree proves nothing".into());
    }
    if old == new {
        if !proof.is_empty() {
            return Err("trees of equal size need an empty consistency proof".into());
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(format!("two different roots for the same size {old}: the trees fork"))
        };
    }
    if proof.is_empty() {
        return Err("the consistency proof is empty".into());
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err("the consistency proof is longer than the tree is deep".into());
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err("the consistency proof is shorter than the trees are deep".into());
    }
    if &fr != old_root {
        return Err("the consistency proof does not lead to the old root".into());
    }
    if &sr != new_root {
        return Err("the consistency proof does not lead to the new root".into());
    }
    Ok(())
}

/// The right edge of a tree: the roots of its perfect subtrees (RFC 6962's "compact range"
/// from 0). Appending a leaf completes at most one node per level.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    /// The peaks, left to right (the largest subtree first).
    peaks: Vec<Hash>,
}

impl CompactRange {
    /// A range over `size` leaves with these peaks (as [`peaks`] lists their positions).
    pub fn from_peaks(size: u64, peaks: Vec<Hash>) -> Result<CompactRange, String> {
        if peaks.len() != size.count_ones() as usize {
            return Err(format!(
                "a tree of {size} leaves has {} peaks, not {}",
                size.count_ones(),
                peaks.len()
            ));
        }
        Ok(CompactRange { size, peaks })
    }

    /// Leaves covered.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf; returns every node it completes, as `(level, index, hash)`, the leaf
    /// itself first.
    pub fn push(&mut self, leaf: Hash) -> Vec<(u8, u64, Hash)> {
        let mut done = vec![(0u8, self.size, leaf)];
        let mut hash = leaf;
        let mut index = self.size;
        let mut level = 0u8;
        while index & 1 == 1 {
            let left = self.peaks.pop().unwrap_or(hash);
            hash = node_hash(&left, &hash);
            index >>= 1;
            level += 1;
            done.push((level, index, hash));
        }
        self.peaks.push(hash);
        self.size += 1;
        done
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        match self.peaks.split_last() {
            None => empty_root(),
            Some((last, rest)) => rest.iter().rev().fold(*last, |acc, p| node_hash(p, &acc)),
        }
    }
}

/// A tree kept in memory (every complete node), for tests, exports and benchmarks.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    range: CompactRange,
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        for (level, index, hash) in self.range.push(leaf) {
            let level = level as usize;
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            debug_assert_eq!(self.levels[level].len() as u64, index);
            self.levels[level].push(hash);
        }
    }

    /// Leaves held.
    pub fn size(&self) -> u64 {
        self.range.size()
    }

    /// The root of all the leaves held.
    pub fn root(&self) -> Hash {
        self.range.root()
    }
}

impl Nodes for MemoryTree {
    fn node(&self, level: u8, index: u64) -> Result<Hash, String> {
        self.levels
            .get(level as usize)
            .and_then(|l| l.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or_else(|| format!("no tree node at level {level}, index {index}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MTH straight from RFC 6962's definition, over the leaf hashes.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn roots_proofs_and_ranges_agree_with_the_definition_for_every_small_tree() {
        let leaves: Vec<Hash> = (0..70u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut tree = MemoryTree::default();
        for (i, l) in leaves.iter().enumerate() {
            tree.push(*l);
            let size = i as u64 + 1;
            assert_eq!(root(&tree, size).unwrap(), mth(&leaves[..=i]), "root at {size}");
            assert_eq!(tree.root(), mth(&leaves[..=i]), "compact range at {size}");
        }
        for size in 1..=70u64 {
            let r = root(&tree, size).unwrap();
            for index in 0..size {
                let p = inclusion_proof(&tree, index, size).unwrap();
                verify_inclusion(index, size, &leaves[index as usize], &p, &r).unwrap();
            }
            for old in 1..=size {
                let p = consistency_proof(&tree, old, size).unwrap();
                verify_consistency(old, size, &p, &root(&tree, old).unwrap(), &r).unwrap();
            }
        }
    }
}
