//! Keyed permutations of 46-bit numbers: elector ids that carry no register order, and the
//! references that blind-index rows hold instead of an id, so that rows of two indexes of one
//! elector cannot be joined without the key.
//!
//! A balanced Feistel network on two 23-bit halves, with AES-128 as the round function (the
//! round number and the half as the block; the first 23 bits of the output as the round
//! value), ten rounds as in NIST SP 800-38G's FF1 (whose smallest domain is 10^6). 46 bits
//! hold 70 trillion electors, keep every id an exact integer in a JSON client (below 2^53)
//! and fit SQLite's six-byte integers.

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;
use std::fmt;

/// Bits in a permuted value; every input and output is below `2^DOMAIN_BITS`.
pub const DOMAIN_BITS: u32 = 46;
const HALF: u32 = DOMAIN_BITS / 2;
const HALF_MASK: u64 = (1 << HALF) - 1;
const ROUNDS: u8 = 10;

/// A keyed bijection of `0..2^46`.
#[derive(Clone)]
pub struct Permutation {
    cipher: Aes128,
}

impl fmt::Debug for Permutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Permutation(<redacted>)")
    }
}

impl Permutation {
    pub fn new(key: &[u8; 16]) -> Self {
        Self { cipher: Aes128::new(key.into()) }
    }

    fn round(&self, round: u8, half: u64) -> u64 {
        let mut block = [0u8; 16];
        block[0] = round;
        block[8..].copy_from_slice(&half.to_be_bytes());
        let mut b = block.into();
        self.cipher.encrypt_block(&mut b);
        u64::from_be_bytes(b[..8].try_into().expect("8 bytes")) >> (64 - HALF)
    }

    /// The image of `x`. Panics if `x` is outside the domain: callers hold values they made.
    pub fn forward(&self, x: u64) -> u64 {
        assert!(x >> DOMAIN_BITS == 0, "outside the permutation's domain");
        let (mut left, mut right) = (x >> HALF, x & HALF_MASK);
        for r in 0..ROUNDS {
            let next = left ^ self.round(r, right);
            left = right;
            right = next;
        }
        (left << HALF) | right
    }

    /// The preimages of many values at once (None for a value outside the domain): each round
    /// runs over every value together, so the cipher works on many blocks at a time.
    pub fn inverse_many(&self, ys: &[u64]) -> Vec<Option<u64>> {
        let mut halves: Vec<(u64, u64)> = ys.iter().map(|y| (y >> HALF & HALF_MASK, y & HALF_MASK)).collect();
        let mut blocks = vec![aes::Block::default(); ys.len()];
        for r in (0..ROUNDS).rev() {
            for (b, (left, _)) in blocks.iter_mut().zip(&halves) {
                b.fill(0);
                b[0] = r;
                b[8..].copy_from_slice(&left.to_be_bytes());
            }
            self.cipher.encrypt_blocks(&mut blocks);
            for (b, (left, right)) in blocks.iter().zip(halves.iter_mut()) {
                let f = u64::from_be_bytes(b[..8].try_into().expect("8 bytes")) >> (64 - HALF);
                let prev = *right ^ f;
                *right = *left;
                *left = prev;
            }
        }
        ys.iter()
            .zip(halves)
            .map(|(y, (left, right))| (y >> DOMAIN_BITS == 0).then_some((left << HALF) | right))
            .collect()
    }

    /// The value whose image is `y`, or None if `y` is outside the domain.
    pub fn inverse(&self, y: u64) -> Option<u64> {
        if y >> DOMAIN_BITS != 0 {
            return None;
        }
        let (mut left, mut right) = (y >> HALF, y & HALF_MASK);
        for r in (0..ROUNDS).rev() {
            let prev = right ^ self.round(r, left);
            right = left;
            left = prev;
        }
        Some((left << HALF) | right)
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
    fn inverting_many_at_once_agrees_with_one_at_a_time() {
        let p = key(3);
        let ys: Vec<u64> = (0..1_000u64).map(|x| p.forward(x * 7_919)).chain([1 << DOMAIN_BITS]).collect();
        let many = p.inverse_many(&ys);
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

    #[test]
    fn another_key_gives_another_permutation() {
        let (a, b) = (key(1), key(2));
        let same = (0..1_000u64).filter(|&x| a.forward(x) == b.forward(x)).count();
        assert_eq!(same, 0);
    }
}
