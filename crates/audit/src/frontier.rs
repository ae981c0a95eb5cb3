//! The right edge of an RFC 6962 tree: the roots of its perfect subtrees, largest first (one
//! per set bit of the size). Enough to append leaves and compute the tree head without the
//! rest of the tree, so any process can sequence events into the log knowing only this
//! (at most 64 hashes), which the register keeps with its audit state.

use crate::merkle::{empty_root, node_hash, Hash};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    /// Roots of the perfect subtrees, largest first.
    hashes: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn push(&mut self, leaf: Hash) {
        let mut carry = leaf;
        // Each trailing one bit of the size is a subtree of the same height as the carry.
        let mut size = self.size;
        while size & 1 == 1 {
            let left = self.hashes.pop().expect("one hash per set bit");
            carry = node_hash(&left, &carry);
            size >>= 1;
        }
        self.hashes.push(carry);
        self.size += 1;
    }

    /// The tree head (RFC 6962 MTH) of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut it = self.hashes.iter().rev();
        let Some(first) = it.next() else { return empty_root() };
        it.fold(*first, |acc, left| node_hash(left, &acc))
    }

    /// The hashes, concatenated, for storage.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.hashes.concat()
    }

    /// The frontier of a tree of `size` leaves from its stored hashes; refuses bytes that
    /// are not one hash per set bit of `size`.
    pub fn from_bytes(size: u64, bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 32 * size.count_ones() as usize {
            return None;
        }
        let hashes = bytes.chunks_exact(32).map(|c| c.try_into().expect("32 bytes")).collect();
        Some(Self { size, hashes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf_hash, Tree};

    #[test]
    fn the_frontier_gives_the_same_head_as_the_whole_tree_at_every_size() {
        let mut tree = Tree::new();
        let mut f = Frontier::new();
        assert_eq!(f.root(), tree.root());
        for i in 0..300u32 {
            let leaf = leaf_hash(&i.to_be_bytes());
            tree.push(leaf);
            f.push(leaf);
            assert_eq!(f.root(), tree.root(), "size {}", i + 1);
            let back = Frontier::from_bytes(f.size(), &f.to_bytes()).expect("round trip");
            assert_eq!(back, f);
        }
    }

    #[test]
    fn stored_bytes_of_the_wrong_shape_are_refused() {
        let mut f = Frontier::new();
        for i in 0..5u8 {
            f.push(leaf_hash(&[i]));
        }
        let bytes = f.to_bytes();
        assert!(Frontier::from_bytes(5, &bytes).is_some());
        assert!(Frontier::from_bytes(7, &bytes).is_none());
        assert!(Frontier::from_bytes(5, &bytes[..32]).is_none());
    }
}
