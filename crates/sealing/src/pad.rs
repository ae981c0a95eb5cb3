//! Padding before sealing, so that a ciphertext's length says which of a few sizes its value
//! fits, never the value's length. ISO/IEC 7816-4 style: the value, one 0x80 byte, then zeros.

/// Sizes a padded value may take, smallest first. Values longer than the last size are padded
/// to a multiple of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PadSizes(pub &'static [usize]);

impl PadSizes {
    /// The padded length for a value of `len` bytes.
    pub fn padded_len(&self, len: usize) -> usize {
        let need = len + 1;
        if let Some(size) = self.0.iter().copied().find(|s| *s >= need) {
            return size;
        }
        let last = *self.0.last().expect("at least one size");
        need.div_ceil(last) * last
    }

    /// `value` padded to its size.
    pub fn pad(&self, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.padded_len(value.len()));
        out.extend_from_slice(value);
        out.push(0x80);
        out.resize(self.padded_len(value.len()), 0);
        out
    }
}

/// The value inside a padded buffer, or None if the padding is malformed.
pub fn unpad(padded: &[u8]) -> Option<&[u8]> {
    let end = padded.iter().rposition(|b| *b != 0)?;
    (padded[end] == 0x80).then(|| &padded[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZES: PadSizes = PadSizes(&[16, 32, 64]);

    #[test]
    fn values_of_different_lengths_in_one_size_pad_to_the_same_length() {
        for len in 0..16 {
            assert_eq!(SIZES.pad(&vec![b'a'; len]).len(), 16, "{len}");
        }
        assert_eq!(SIZES.pad(&[b'a'; 16]).len(), 32);
        assert_eq!(SIZES.pad(&[b'a'; 63]).len(), 64);
        assert_eq!(SIZES.pad(&[b'a'; 64]).len(), 128);
        assert_eq!(SIZES.pad(&[b'a'; 200]).len(), 256);
    }

    #[test]
    fn unpad_returns_the_value_even_when_it_ends_in_zeros() {
        for value in [&b""[..], b"x", b"ab\0\0", &[0x80, 0, 0x80]] {
            assert_eq!(unpad(&SIZES.pad(value)), Some(value));
        }
        assert_eq!(unpad(&[0; 16]), None);
        assert_eq!(unpad(b"no marker"), None);
    }
}
