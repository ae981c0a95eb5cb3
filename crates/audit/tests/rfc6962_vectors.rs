//! The RFC 6962 test vectors: tree heads for 0–8 leaves, and every inclusion, consistency,
//! subtree-inclusion and subtree-consistency case of transparency-dev/merkle's test data
//! (518 in all), happy and failing.

use base64::Engine as _;
use rollguard_audit::merkle::{self, Tree};
use serde_json::Value;
use std::path::PathBuf;

fn data() -> PathBuf {
    manifest_dir().join("tests/data/rfc6962")
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// The bytes of a base64 field, or None if it is missing or not base64.
fn hash(v: &Value) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(v.as_str()?).ok()
}

fn proof(v: &Value) -> Option<Vec<Vec<u8>>> {
    match v {
        Value::Null => Some(Vec::new()),
        Value::Array(items) => items.iter().map(hash).collect(),
        _ => None,
    }
}

fn cases(kind: &str) -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    let mut dirs = vec![data().join("testdata").join(kind)];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
                out.push((p, v));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn tree_heads_for_zero_to_eight_leaves() {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(data().join("roots.json")).unwrap()).unwrap();
    assert_eq!(merkle::empty_root().to_vec(), hex(v["empty_root_hex"].as_str().unwrap()));
    let inputs: Vec<Vec<u8>> =
        v["leaf_inputs_hex"].as_array().unwrap().iter().map(|x| hex(x.as_str().unwrap())).collect();
    let leaf_hashes = v["leaf_hashes_hex"].as_array().unwrap();
    let roots = v["root_hashes_hex"].as_array().unwrap();
    let mut t = Tree::new();
    for (i, input) in inputs.iter().enumerate() {
        let h = merkle::leaf_hash(input);
        assert_eq!(h.to_vec(), hex(leaf_hashes[i].as_str().unwrap()), "leaf {i}");
        t.push(h);
    }
    // root_hashes[n] is the head of the first n leaves (or n+1, if the list starts at one leaf).
    let offset = if roots.len() == inputs.len() { 1 } else { 0 };
    for (n, r) in roots.iter().enumerate() {
        assert_eq!(t.root_at((n + offset) as u64).to_vec(), hex(r.as_str().unwrap()), "size {}", n + offset);
    }
}

#[test]
fn every_inclusion_case() {
    let all = cases("inclusion");
    assert_eq!(all.len(), 98);
    let (mut happy, mut failing) = (0, 0);
    for (path, c) in &all {
        let want_err = c["wantErr"].as_bool().unwrap();
        let verified = (|| {
            let (leaf, root, proof) = (hash(&c["leafHash"])?, hash(&c["root"])?, proof(&c["proof"])?);
            let index = c["leafIdx"].as_u64()?;
            let size = c["treeSize"].as_u64()?;
            Some(merkle::verify_inclusion(&leaf, index, size, &proof, &root).is_ok())
        })()
        .unwrap_or(false);
        assert_eq!(verified, !want_err, "{}: {}", path.display(), c["desc"]);
        if want_err {
            failing += 1
        } else {
            happy += 1
        }
    }
    assert!(happy > 0 && failing > 0);
}

#[test]
fn every_consistency_case() {
    let all = cases("consistency");
    assert_eq!(all.len(), 98);
    for (path, c) in &all {
        let want_err = c["wantErr"].as_bool().unwrap();
        let verified = (|| {
            let (r1, r2, proof) = (hash(&c["root1"])?, hash(&c["root2"])?, proof(&c["proof"])?);
            let (s1, s2) = (c["size1"].as_u64()?, c["size2"].as_u64()?);
            Some(merkle::verify_consistency(s1, s2, &r1, &r2, &proof).is_ok())
        })()
        .unwrap_or(false);
        assert_eq!(verified, !want_err, "{}: {}", path.display(), c["desc"]);
    }
}

#[test]
fn every_subtree_inclusion_case() {
    let all = cases("subtreeinclusion");
    assert_eq!(all.len(), 204);
    for (path, c) in &all {
        let want_err = c["wantErr"].as_bool().unwrap();
        let verified = (|| {
            let (leaf, root, proof) = (hash(&c["leafHash"])?, hash(&c["root"])?, proof(&c["proof"])?);
            let (index, start, end) = (c["leafIdx"].as_u64()?, c["start"].as_u64()?, c["end"].as_u64()?);
            Some(merkle::verify_subtree_inclusion(&leaf, index, start, end, &proof, &root).is_ok())
        })()
        .unwrap_or(false);
        assert_eq!(verified, !want_err, "{}: {}", path.display(), c["desc"]);
    }
}

#[test]
fn every_subtree_consistency_case() {
    let all = cases("subtreeconsistency");
    assert_eq!(all.len(), 118);
    for (path, c) in &all {
        let want_err = c["wantErr"].as_bool().unwrap();
        let verified = (|| {
            let (r1, r2, proof) = (hash(&c["root1"])?, hash(&c["root2"])?, proof(&c["proof"])?);
            let (start, end, size) = (c["start"].as_u64()?, c["end"].as_u64()?, c["size"].as_u64()?);
            Some(merkle::verify_subtree_consistency(start, end, size, &proof, &r1, &r2).is_ok())
        })()
        .unwrap_or(false);
        assert_eq!(verified, !want_err, "{}: {}", path.display(), c["desc"]);
    }
}

#[test]
fn all_518_cases_are_covered() {
    let n: usize = ["inclusion", "consistency", "subtreeinclusion", "subtreeconsistency"]
        .iter()
        .map(|k| cases(k).len())
        .sum();
    assert_eq!(n, 518);
}

/// The crate's directory, read when the test runs (cargo sets it) rather than when it was
/// compiled, so a build shared between checkouts never points at another one.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())
}
