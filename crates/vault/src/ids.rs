//! Elector ids: `ID_BASE`, then the authority's cluster, then a keyed permutation of the
//! register's sequence number, so ids carry no register order, never meet a legacy id, stay
//! below 2^47 (six-byte SQLite integers) and are exact in a JSON client.

use rollguard_sealing::{Permutation, DOMAIN_BITS};

/// Every sealed-layout id is at least this (legacy ids are small sequence numbers).
pub const ID_BASE: u64 = 1 << DOMAIN_BITS;

/// Bits of an id's permuted sequence number (68 billion electors); above them, up to
/// `ID_BASE`, the authority's cluster.
pub const SEQUENCE_BITS: u32 = 36;

const SEQUENCE_MASK: u64 = (1 << SEQUENCE_BITS) - 1;

/// Clusters: the store's authority number modulo 1,024. Uniqueness comes from the sequence
/// alone (one counter for the register, permuted bijectively), so two authorities sharing a
/// cluster only share a region of the table. The cluster keeps the rows of different
/// authorities apart, so one authority's import never splits another's pages; it says
/// nothing a row's clear authority column does not. Entries moved from the legacy layout
/// are cluster 0.
const CLUSTERS: u64 = 1 << (DOMAIN_BITS - SEQUENCE_BITS);

/// How a register turns sequence numbers into ids.
#[derive(Clone, Debug)]
pub(crate) enum IdScheme {
    /// Cluster and a 36-bit permutation (key purpose `elector-ids-clustered`).
    Clustered(Permutation),
    /// `ID_BASE` plus a 46-bit permutation, for registers whose first sealed ids were made
    /// that way (key purpose `elector-ids`, from the build of 2026-12-02): their ids keep
    /// their meaning, and every later id is made the same way.
    Flat(Permutation),
}

impl IdScheme {
    fn permutation(&self) -> &Permutation {
        match self {
            IdScheme::Clustered(p) | IdScheme::Flat(p) => p,
        }
    }

    /// Whether `sequence` can still be given an id.
    pub(crate) fn holds(&self, sequence: u64) -> bool {
        self.permutation().contains(sequence)
    }

    /// The bits above the permuted sequence for the authority numbered `authority_number`.
    fn prefix(&self, authority_number: u64) -> u64 {
        match self {
            IdScheme::Clustered(_) => ID_BASE | (authority_number % CLUSTERS) << SEQUENCE_BITS,
            IdScheme::Flat(_) => ID_BASE,
        }
    }

    /// The id of `sequence` in the authority numbered `authority_number`, or None when the
    /// sequence is exhausted.
    pub(crate) fn id(&self, authority_number: u64, sequence: u64) -> Option<u64> {
        self.holds(sequence).then(|| self.prefix(authority_number) | self.permutation().forward(sequence))
    }

    /// The ids of many sequence numbers of one authority at once; every one must be held.
    pub(crate) fn ids(&self, authority_number: u64, sequences: &[u64]) -> Vec<u64> {
        let prefix = self.prefix(authority_number);
        self.permutation().forward_many(sequences).into_iter().map(|x| prefix | x).collect()
    }

    /// The sequence number behind `id`, whatever its cluster (callers that must know the id
    /// is exactly the one a sequence gives compare [`IdScheme::id`]).
    pub(crate) fn sequence(&self, id: u64) -> Option<u64> {
        if id >> DOMAIN_BITS != 1 {
            return None;
        }
        match self {
            IdScheme::Clustered(p) => p.inverse(id & SEQUENCE_MASK),
            IdScheme::Flat(p) => p.inverse(id & (ID_BASE - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clustered_ids_keep_authorities_apart_and_invert_to_their_sequence() {
        let s = IdScheme::Clustered(Permutation::with_bits(&[4; 16], SEQUENCE_BITS));
        let (a, b): (Vec<u64>, Vec<u64>) =
            ((0..500).map(|q| s.id(3, q).unwrap()).collect(), s.ids(4, &[500, 501]));
        assert!(a.iter().all(|id| id < &b[0] && id < &b[1]), "cluster 3 sits below cluster 4");
        assert!(a.iter().chain(&b).all(|id| (ID_BASE..1 << 47).contains(id)));
        assert_eq!(s.sequence(a[17]), Some(17));
        assert_eq!(s.sequence(b[1]), Some(501));
        assert_eq!(s.sequence(ID_BASE - 1), None);
        assert_eq!(s.sequence(a[17] | 1 << 47), None, "beyond 2^47 is no id");
        assert_eq!(s.id(3, 1 << SEQUENCE_BITS), None, "an exhausted sequence has no id");
    }

    #[test]
    fn flat_ids_are_the_46_bit_permutation_above_id_base() {
        let p = Permutation::new(&[6; 16]);
        let s = IdScheme::Flat(p.clone());
        assert_eq!(s.id(9, 123), Some(ID_BASE + p.forward(123)), "the authority plays no part");
        assert_eq!(s.sequence(ID_BASE + p.forward(123)), Some(123));
    }
}
