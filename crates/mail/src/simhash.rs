//! A body's fingerprint: SimHash of its word 3-shingles, so messages made from one template
//! (with per-recipient details changed) have fingerprints a few bits apart.

/// 64-bit FNV-1a: stable across runs and machines, so fingerprints can be compared later.
fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// SimHash of a body's word 3-shingles, after lower-casing and dropping numbers and tokens
/// (so per-recipient details do not change it). `None` for bodies under 20 words.
pub fn simhash(text: &str) -> Option<u64> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !w.chars().any(|c| c.is_ascii_digit()) && w.len() <= 20)
        .map(str::to_lowercase)
        .collect();
    if words.len() < 20 {
        return None;
    }
    let mut v = [0i32; 64];
    for w in words.windows(3) {
        let h = fnv(&w.join(" "));
        for (bit, slot) in v.iter_mut().enumerate() {
            *slot += if h >> bit & 1 == 1 { 1 } else { -1 };
        }
    }
    Some(v.iter().enumerate().fold(0u64, |acc, (bit, &x)| if x > 0 { acc | 1 << bit } else { acc }))
}
