//! RFC 6962 (and RFC 9162 §2.1) Merkle trees: leaf and node hashing with domain separation,
//! tree heads, inclusion and consistency proofs, and their verification.
//!
//! [`Tree`] keeps the hash of every complete, aligned subtree (level k holds the subtrees of
//! 2^k leaves), so appending costs amortised O(1) hashes and any tree head or proof for any
//! size up to the current one costs O(log n).

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// SHA-256 of the empty string: the head of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new().chain_update([0u8]).chain_update(data).finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &[u8], right: &[u8]) -> Hash {
    Sha256::new().chain_update([1u8]).chain_update(left).chain_update(right).finalize().into()
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the first size {first} is larger than the second {second}")]
    SizesOutOfOrder { first: u64, second: u64 },
    #[error("[{start}, {end}) is not a subtree")]
    InvalidSubtree { start: u64, end: u64 },
    #[error("a leaf hash is 32 bytes")]
    MalformedLeaf,
    #[error("consistency with the empty tree proves nothing")]
    FromEmptyTree,
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
}

/// Verifies that `leaf` is at `index` in the tree of `size` leaves whose head is `root`.
/// Hashes are taken as bytes, as they arrive; a malformed one simply fails to match.
pub fn verify_inclusion<P: AsRef<[u8]>>(
    leaf: &[u8],
    index: u64,
    size: u64,
    proof: &[P],
    root: &[u8],
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    if leaf.len() != 32 {
        return Err(ProofError::MalformedLeaf);
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf.to_vec();
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p.as_ref(), &r).to_vec();
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p.as_ref()).to_vec();
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `first` leaves with head `first_root` is a prefix of the tree
/// of `second` leaves with head `second_root`.
pub fn verify_consistency<P: AsRef<[u8]>>(
    first: u64,
    second: u64,
    first_root: &[u8],
    second_root: &[u8],
    proof: &[P],
) -> Result<(), ProofError> {
    if first > second {
        return Err(ProofError::SizesOutOfOrder { first, second });
    }
    if first == 0 {
        // RFC 9162 defines no proof from the empty tree: every tree extends it, and a
        // "proof" of that would vouch for nothing, so it is refused rather than accepted.
        return Err(ProofError::FromEmptyTree);
    }
    if first == second {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if first_root == second_root { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength);
    }
    let mut path: Vec<&[u8]> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(first_root);
    }
    path.extend(proof.iter().map(|p| p.as_ref()));
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0].to_vec(), path[0].to_vec());
    for c in &path[1..] {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr).to_vec();
            sr = node_hash(c, &sr).to_vec();
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c).to_vec();
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != first_root || sr != second_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// A subtree `[start, end)` as Merkle Tree Certificates use them: non-empty, and `start` a
/// multiple of the smallest power of two that is at least `end - start`, so the range is
/// one node (or the left part of one node) of every tree that contains it.
fn subtree_is_valid(start: u64, end: u64) -> bool {
    start < end && (end - start).checked_next_power_of_two().is_some_and(|w| start.is_multiple_of(w))
}

/// The height of the smallest node covering leaves `start..end`.
fn covering_height(start: u64, end: u64) -> u32 {
    64 - ((end - 1) ^ start).leading_zeros()
}

/// Verifies that `leaf` is leaf `index` of the subtree `[start, end)` whose hash is `root`.
pub fn verify_subtree_inclusion<P: AsRef<[u8]>>(
    leaf: &[u8],
    index: u64,
    start: u64,
    end: u64,
    proof: &[P],
    root: &[u8],
) -> Result<(), ProofError> {
    if !subtree_is_valid(start, end) {
        return Err(ProofError::InvalidSubtree { start, end });
    }
    if index < start || index >= end {
        return Err(ProofError::IndexOutOfRange { index, size: end });
    }
    verify_inclusion(leaf, index - start, end - start, proof, root)
}

/// Verifies that the subtree `[start, end)` with hash `subtree_root` belongs to the tree of
/// `size` leaves with head `root`.
pub fn verify_subtree_consistency<P: AsRef<[u8]>>(
    start: u64,
    end: u64,
    size: u64,
    proof: &[P],
    subtree_root: &[u8],
    root: &[u8],
) -> Result<(), ProofError> {
    if start == end && end <= size {
        // The empty subtree belongs to every tree; its hash must be the empty hash and
        // there is nothing to prove.
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if subtree_root == empty_root() { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    if !subtree_is_valid(start, end) {
        return Err(ProofError::InvalidSubtree { start, end });
    }
    if end > size {
        return Err(ProofError::SizesOutOfOrder { first: end, second: size });
    }
    if start == 0 && end == size {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if subtree_root == root { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength);
    }
    let height = covering_height(start, end);
    if end == size {
        // The subtree's node lies on the tree's right edge: only left siblings remain, one
        // for each level where the node is a right child.
        let node = start >> height;
        if proof.len() != node.count_ones() as usize {
            return Err(ProofError::WrongLength);
        }
        let mut r = subtree_root.to_vec();
        for p in proof {
            r = node_hash(p.as_ref(), &r).to_vec();
        }
        return if r == root { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    // Below the level where the paths to leaves end-1 and size-1 part, the subtree's node in
    // the larger tree also takes in right siblings; the node in the tree of `end` leaves
    // does not. Both are rebuilt from the same proof hashes.
    let fork = 64 - ((end - 1) ^ (size - 1)).leading_zeros();
    let lowest = (end - start).trailing_zeros();
    let full = (end - start) == 1 << lowest;
    let (seed, rest): (&[u8], &[P]) =
        if full { (subtree_root, proof) } else { (proof[0].as_ref(), &proof[1..]) };
    let needed = (fork - lowest) as usize + ((end - 1) >> fork).count_ones() as usize;
    if rest.len() != needed {
        return Err(ProofError::WrongLength);
    }
    let (mut small, mut grown) = (seed.to_vec(), seed.to_vec());
    let mut used = 0;
    for level in lowest..height {
        if (end - 1) >> level & 1 == 1 {
            let p = rest[used].as_ref();
            small = node_hash(p, &small).to_vec();
            grown = node_hash(p, &grown).to_vec();
            used += 1;
        } else if level < fork {
            grown = node_hash(&grown, rest[used].as_ref()).to_vec();
            used += 1;
        }
    }
    if small != subtree_root {
        return Err(ProofError::RootMismatch);
    }
    // What remains is an inclusion proof of the grown node, as a leaf of the tree seen from
    // its level.
    let index = start >> height;
    let level_size = ((size - 1) >> height) + 1;
    verify_inclusion(&grown, index, level_size, &rest[used..], root)
}

/// The largest power of two smaller than `n` (n > 1).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// An append-only Merkle tree with every complete subtree's hash kept.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// `levels[k][i]`: the hash of leaves `i·2^k .. (i+1)·2^k`.
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    pub fn new() -> Self {
        Self { levels: vec![Vec::new()] }
    }

    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf hash; returns its index.
    pub fn push(&mut self, leaf: Hash) -> u64 {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let index = self.levels[0].len() as u64 - 1;
        let mut k = 0;
        while self.levels[k].len().is_multiple_of(2) {
            let n = self.levels[k].len();
            let parent = node_hash(&self.levels[k][n - 2], &self.levels[k][n - 1]);
            if self.levels.len() == k + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[k + 1].push(parent);
            k += 1;
        }
        index
    }

    pub fn leaf(&self, index: u64) -> Option<&Hash> {
        self.levels.first()?.get(usize::try_from(index).ok()?)
    }

    /// The hash of leaves `start..end` (`end` ≤ size, the range non-empty), where the range
    /// is a node of some tree: `start` is a multiple of the largest power of two below
    /// `end - start`, or the range is itself complete and aligned.
    fn range_hash(&self, start: u64, end: u64) -> Hash {
        let n = end - start;
        if n.is_power_of_two() {
            let k = n.trailing_zeros() as usize;
            if start.is_multiple_of(n) {
                // A node of this tree: its index is below its level's length, a usize.
                let i = usize::try_from(start >> k).expect("a node index fits in memory");
                return self.levels[k][i];
            }
        }
        let k = split(n);
        node_hash(&self.range_hash(start, start + k), &self.range_hash(start + k, end))
    }

    /// The tree head at `size` leaves (`size` ≤ the current size).
    pub fn root_at(&self, size: u64) -> Hash {
        assert!(size <= self.size(), "tree head for a size beyond the tree");
        if size == 0 {
            return empty_root();
        }
        self.range_hash(0, size)
    }

    pub fn root(&self) -> Hash {
        self.root_at(self.size())
    }

    /// Inclusion proof for leaf `index` in the tree of `size` leaves (RFC 6962 PATH).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        if index >= size || size > self.size() {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        let mut out = Vec::new();
        self.path(index, 0, size, &mut out);
        Ok(out)
    }

    fn path(&self, m: u64, start: u64, end: u64, out: &mut Vec<Hash>) {
        let n = end - start;
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            self.path(m, start, start + k, out);
            out.push(self.range_hash(start + k, end));
        } else {
            self.path(m - k, start + k, end, out);
            out.push(self.range_hash(start, start + k));
        }
    }

    /// Consistency proof between the trees of `first` and `second` leaves (RFC 6962 PROOF).
    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, ProofError> {
        if first > second {
            return Err(ProofError::SizesOutOfOrder { first, second });
        }
        if second > self.size() {
            return Err(ProofError::IndexOutOfRange { index: second, size: self.size() });
        }
        let mut out = Vec::new();
        if first > 0 && first < second {
            self.subproof(first, 0, second, true, &mut out);
        }
        Ok(out)
    }

    fn subproof(&self, m: u64, start: u64, end: u64, whole: bool, out: &mut Vec<Hash>) {
        let n = end - start;
        if m == n {
            if !whole {
                out.push(self.range_hash(start, end));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, start, start + k, whole, out);
            out.push(self.range_hash(start + k, end));
        } else {
            self.subproof(m - k, start + k, end, false, out);
            out.push(self.range_hash(start, start + k));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain recursive definition, to check the cached tree against.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k: usize = split(n.try_into().unwrap()).try_into().unwrap();
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn every_head_and_proof_agrees_with_the_definition_up_to_70_leaves() {
        let mut t = Tree::new();
        let leaves: Vec<Hash> = (0..70u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for l in &leaves {
            t.push(*l);
        }
        for size in 0..=70u64 {
            let root = mth(&leaves[..usize::try_from(size).unwrap()]);
            assert_eq!(t.root_at(size), root, "size {size}");
            for i in 0..size {
                let p = t.inclusion_proof(i, size).unwrap();
                verify_inclusion(&leaves[usize::try_from(i).unwrap()], i, size, &p, &root).unwrap();
                // Another leaf's hash does not verify at this index.
                let other = leaves[((i + 1) % 70) as usize];
                assert!(verify_inclusion(&other, i, size, &p, &root).is_err());
            }
            for first in 1..=size {
                let p = t.consistency_proof(first, size).unwrap();
                verify_consistency(first, size, &t.root_at(first), &root, &p).unwrap();
                if first > 0 && first < size {
                    let forged = node_hash(&t.root_at(first), &root);
                    assert!(verify_consistency(first, size, &forged, &root, &p).is_err());
                }
            }
        }
    }
}
