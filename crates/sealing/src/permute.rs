//! Keyed permutations of numbers of an even number of bits (at most 46): the sequence part of
//! elector ids, so ids carry no register order, and the references that blind-index rows hold
//! instead of an id, so that rows of two indexes of one elector cannot be joined without the
//! key.
//!
//! A balanced Feistel network on two halves, with AES-128 as the round function (the round
//! number, the width and the half as the block; the output's first bits as the round value),
//! ten rounds as in NIST SP 800-38G's FF1 (whose smallest domain is 10^6). 46 bits keep every
//! value an exact integer in a JSON client (below 2^53) and fit SQLite's six-byte integers.

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;
use std::fmt;

/// The widest domain: every input and output of [`Permutation::new`] is below `2^DOMAIN_BITS`.
pub const DOMAIN_BITS: u32 = 46;
const ROUNDS: u8 = 10;

/// A keyed bijection of `0..2^bits`.
#[derive(Clone)]
pub struct Permutation {
    cipher: Aes128,
    bits: u32,
}

impl fmt::Debug for Permutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Permutation(<redacted>)")
    }
}

impl Permutation {
    /// A bijection of `0..2^46`.
    pub fn new(key: &[u8; 16]) -> Self {
        Self::with_bits(key, DOMAIN_BITS)
    }

    /// A bijection of `0..2^bits`; `bits` is even, from 20 (FF1's smallest domain) to 46.
    pub fn with_bits(key: &[u8; 16], bits: u32) -> Self {
        assert!(bits.is_multiple_of(2) && (20..=DOMAIN_BITS).contains(&bits), "a permutation of {bits} bits");
        Self { cipher: Aes128::new(key.into()), bits }
    }

    /// Bits in an input or output.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    fn half(&self) -> u32 {
        self.bits / 2
    }

    fn half_mask(&self) -> u64 {
        (1 << self.half()) - 1
    }

    /// The round function's block: the round, how far the width is below 46 bits (so
    /// permutations of two widths under one key are unrelated; 0 for 46 keeps the references
    /// stored before widths were a parameter) and the half.
    fn block(&self, round: u8, half: u64, block: &mut aes::Block) {
        block.fill(0);
        block[0] = round;
        block[1] = u8::try_from(DOMAIN_BITS - self.bits).expect("at most 46 bits");
        block[8..].copy_from_slice(&half.to_be_bytes());
    }

    fn round(&self, round: u8, half: u64) -> u64 {
        let mut b = aes::Block::default();
        self.block(round, half, &mut b);
        self.cipher.encrypt_block(&mut b);
        u64::from_be_bytes(b[..8].try_into().expect("8 bytes")) >> (64 - self.half())
    }

    /// Whether `x` is in the domain.
    pub fn contains(&self, x: u64) -> bool {
        x >> self.bits == 0
    }

    /// The image of `x`. Panics if `x` is outside the domain: callers hold values they made.
    pub fn forward(&self, x: u64) -> u64 {
        assert!(self.contains(x), "outside the permutation's domain");
        let half = self.half();
        let (mut left, mut right) = (x >> half, x & self.half_mask());
        for r in 0..ROUNDS {
            let next = left ^ self.round(r, right);
            left = right;
            right = next;
        }
        (left << half) | right
    }

    /// The images of many values at once: each round runs over every value together, so the
    /// cipher works on many blocks at a time. Panics if a value is outside the domain.
    pub fn forward_many(&self, xs: &[u64]) -> Vec<u64> {
        assert!(xs.iter().all(|x| self.contains(*x)), "outside the permutation's domain");
        let (half, mask) = (self.half(), self.half_mask());
        let mut halves: Vec<(u64, u64)> = xs.iter().map(|x| (x >> half, x & mask)).collect();
        let mut blocks = vec![aes::Block::default(); xs.len()];
        for r in 0..ROUNDS {
            for (b, (_, right)) in blocks.iter_mut().zip(&halves) {
                self.block(r, *right, b);
            }
            self.cipher.encrypt_blocks(&mut blocks);
            for (b, (left, right)) in blocks.iter().zip(halves.iter_mut()) {
                let f = u64::from_be_bytes(b[..8].try_into().expect("8 bytes")) >> (64 - half);
                let next = *left ^ f;
                *left = *right;
                *right = next;
            }
        }
        halves.into_iter().map(|(left, right)| (left << half) | right).collect()
    }

    /// The preimages of many values at once (None for a value outside the domain): each round
    /// runs over every value together, so the cipher works on many blocks at a time.
    pub fn inverse_many(&self, ys: &[u64]) -> Vec<Option<u64>> {
        let (half, mask) = (self.half(), self.half_mask());
        let mut halves: Vec<(u64, u64)> = ys.iter().map(|y| (y >> half & mask, y & mask)).collect();
        let mut blocks = vec![aes::Block::default(); ys.len()];
        for r in (0..ROUNDS).rev() {
            for (b, (left, _)) in blocks.iter_mut().zip(&halves) {
                self.block(r, *left, b);
            }
            self.cipher.encrypt_blocks(&mut blocks);
            for (b, (left, right)) in blocks.iter().zip(halves.iter_mut()) {
                let f = u64::from_be_bytes(b[..8].try_into().expect("8 bytes")) >> (64 - half);
                let prev = *right ^ f;
                *right = *left;
                *left = prev;
            }
        }
        ys.iter()
            .zip(halves)
            .map(|(y, (left, right))| self.contains(*y).then_some((left << half) | right))
            .collect()
    }

    /// The value whose image is `y`, or None if `y` is outside the domain.
    pub fn inverse(&self, y: u64) -> Option<u64> {
        if !self.contains(y) {
            return None;
        }
        let half = self.half();
        let (mut left, mut right) = (y >> half, y & self.half_mask());
        for r in (0..ROUNDS).rev() {
            let prev = right ^ self.round(r, left);
            right = left;
            left = prev;
        }
        Some((left << half) | right)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Permutation {
        Permutation::new(&[b; 16])
    }

    #[test]
    fn inverse_undoes_forward_and_images_stay_in_the_domain() {
        let p = key(7);
        for x in (0..5_000u64).chain([(1 << DOMAIN_BITS) - 1, 1 << 40, 123_456_789]) {
            let y = p.forward(x);
            assert!(y < 1 << DOMAIN_BITS);
            assert_eq!(p.inverse(y), Some(x));
        }
        assert_eq!(p.inverse(1 << DOMAIN_BITS), None);
    }

    #[test]
    fn many_at_once_agrees_with_one_at_a_time_both_ways() {
        let p = key(3);
        let ys: Vec<u64> = (0..1_000u64).map(|x| p.forward(x * 7_919)).chain([1 << DOMAIN_BITS]).collect();
        let many = p.inverse_many(&ys);
        let xs: Vec<u64> = (0..1_000u64).map(|x| x * 7_919).collect();
        assert_eq!(p.forward_many(&xs), ys[..1_000]);
        for (y, got) in ys.iter().zip(many) {
            assert_eq!(got, p.inverse(*y));
        }
    }

    #[test]
    fn consecutive_inputs_give_unordered_images() {
        let p = key(9);
        let images: Vec<u64> = (1..=10_000u64).map(|x| p.forward(x)).collect();
        let rises = images.windows(2).filter(|w| w[1] > w[0]).count();
        // Half the steps go up, as for random values (10,000 steps: within ±3%).
        assert!((4_700..=5_300).contains(&rises), "{rises} of 9,999 steps go up");
        let distinct: std::collections::HashSet<_> = images.iter().collect();
        assert_eq!(distinct.len(), images.len());
    }

    /// Values from an independent implementation of the construction described above (AES-128
    /// from another library): the references already stored depend on the 46-bit images.
    #[test]
    fn images_match_known_answers_for_both_widths() {
        let key: [u8; 16] = core::array::from_fn(|i| u8::try_from(i).expect("below 16"));
        let wide = Permutation::new(&key);
        for (x, y) in [
            (0, 11_549_720_312_522),
            (1, 11_602_341_408_426),
            (123_456_789, 42_376_631_618_435),
            ((1 << 46) - 1, 16_449_867_506_085),
        ] {
            assert_eq!(wide.forward(x), y, "46 bits, {x}");
        }
        let narrow = Permutation::with_bits(&key, 36);
        for (x, y) in [(0, 45_452_111_861), (1, 68_425_124_877), ((1 << 36) - 1, 51_852_530_756)] {
            assert_eq!(narrow.forward(x), y, "36 bits, {x}");
        }
    }

    #[test]
    fn a_narrower_domain_maps_into_itself_without_collisions() {
        let (wide, narrow) = (key(5), Permutation::with_bits(&[5; 16], 36));
        let images: std::collections::HashSet<u64> = (0..20_000u64).map(|x| narrow.forward(x)).collect();
        assert_eq!(images.len(), 20_000);
        assert!(images
            .iter()
            .all(|y| *y < 1 << 36 && narrow.inverse(*y).is_some_and(|x| narrow.forward(x) == *y)));
        assert_eq!(narrow.inverse(1 << 36), None);
        assert_eq!(narrow.inverse_many(&[narrow.forward(77), 1 << 36]), vec![Some(77), None]);
        assert_eq!((0..1_000u64).filter(|&x| wide.forward(x) == narrow.forward(x)).count(), 0);
    }

    #[test]
    fn another_key_gives_another_permutation() {
        let (a, b) = (key(1), key(2));
        let same = (0..1_000u64).filter(|&x| a.forward(x) == b.forward(x)).count();
        assert_eq!(same, 0);
    }
}
