//! The Merkle tree against published test data: transparency-dev/merkle's inclusion and
//! consistency probes (vendored in `schemas/vectors/rfc6962-transparency-dev.json`), and RFC
//! 6962's own reference tree; then proofs for random trees and every single-byte change to a
//! proof.

use base64::Engine;
use ledger::merkle::{self, Hash, MemoryTree};
use serde_json::Value;

use crate::schemas::schema_dir;

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or("")).unwrap()
}

/// A probe's hash. Some probes hold placeholders that are not 32 bytes ("don't care"), whose
/// only role is to be equal or unequal to another: they stand in as their SHA-256, which keeps
/// equality and can never be mistaken for a real node.
fn hash(v: &Value) -> Option<Hash> {
    let bytes = b64(v);
    Some(bytes.clone().try_into().unwrap_or_else(|_| {
        use sha2::Digest;
        sha2::Sha256::digest(&bytes).into()
    }))
}

fn probes() -> Value {
    let text = std::fs::read_to_string(schema_dir().join("vectors/rfc6962-transparency-dev.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn transparency_dev_inclusion_probes() {
    let probes = probes();
    let cases = probes["inclusion"].as_array().unwrap();
    assert!(cases.len() > 90);
    for c in cases {
        let proof: Option<Vec<Hash>> =
            c["proof"].as_array().map_or(Some(vec![]), |p| p.iter().map(hash).collect());
        // A leaf hash must be a hash: 32 bytes.
        let leaf: Option<Hash> = b64(&c["leafHash"]).try_into().ok();
        let got = match (leaf, hash(&c["root"]), proof) {
            (Some(leaf), Some(root), Some(proof)) => merkle::verify_inclusion(
                c["leafIdx"].as_u64().unwrap(),
                c["treeSize"].as_u64().unwrap(),
                &leaf,
                &proof,
                &root,
            ),
            _ => Err("malformed".into()),
        };
        assert_eq!(got.is_err(), c["wantErr"].as_bool().unwrap(), "{}: {got:?}", c["file"]);
    }
}

#[test]
fn transparency_dev_consistency_probes() {
    let probes = probes();
    let cases = probes["consistency"].as_array().unwrap();
    assert!(cases.len() > 90);
    for c in cases {
        let proof: Option<Vec<Hash>> =
            c["proof"].as_array().map_or(Some(vec![]), |p| p.iter().map(hash).collect());
        let got = match (hash(&c["root1"]), hash(&c["root2"]), proof) {
            (Some(r1), Some(r2), Some(proof)) => merkle::verify_consistency(
                c["size1"].as_u64().unwrap(),
                c["size2"].as_u64().unwrap(),
                &proof,
                &r1,
                &r2,
            ),
            _ => Err("malformed".into()),
        };
        assert_eq!(got.is_err(), c["wantErr"].as_bool().unwrap(), "{}: {got:?}", c["file"]);
    }
}

/// RFC 6962's reference tree (the inputs of the Certificate Transparency test suite, as
/// transparency-dev's `rfc6962` tests use them): roots at every size from 1 to 8.
#[test]
fn the_reference_tree_has_the_published_roots() {
    let inputs: [&[u8]; 8] = [
        b"",
        &[0x00],
        &[0x10],
        &[0x20, 0x21],
        &[0x30, 0x31],
        &[0x40, 0x41, 0x42, 0x43],
        &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        &[0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f],
    ];
    let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let hex = |h: &Hash| h.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut tree = MemoryTree::default();
    assert_eq!(
        hex(&merkle::empty_root()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    for (i, input) in inputs.iter().enumerate() {
        tree.push(merkle::leaf_hash(input));
        assert_eq!(hex(&merkle::root(&tree, i as u64 + 1).unwrap()), roots[i], "size {}", i + 1);
    }
}

#[test]
fn proofs_of_a_random_tree_verify_and_every_changed_byte_fails() {
    let mut rng = 0x853c_49e6_748f_ea9bu64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut tree = MemoryTree::default();
    let n = 1000 + next() % 1000;
    let leaves: Vec<Hash> = (0..n).map(|i| merkle::leaf_hash(&i.to_le_bytes())).collect();
    for l in &leaves {
        tree.push(*l);
    }
    for _ in 0..50 {
        let size = 1 + next() % n;
        let index = next() % size;
        let old = 1 + next() % size;
        let root = merkle::root(&tree, size).unwrap();
        let proof = merkle::inclusion_proof(&tree, index, size).unwrap();
        merkle::verify_inclusion(index, size, &leaves[index as usize], &proof, &root).unwrap();
        let cons = merkle::consistency_proof(&tree, old, size).unwrap();
        let old_root = merkle::root(&tree, old).unwrap();
        merkle::verify_consistency(old, size, &cons, &old_root, &root).unwrap();
        for (which, p) in [("inclusion", &proof), ("consistency", &cons)] {
            for at in 0..p.len() * 32 {
                let mut bad = p.clone();
                bad[at / 32][at % 32] ^= 1 << (at % 8);
                let r = if which == "inclusion" {
                    merkle::verify_inclusion(index, size, &leaves[index as usize], &bad, &root)
                } else {
                    merkle::verify_consistency(old, size, &bad, &old_root, &root)
                };
                assert!(
                    r.is_err(),
                    "{which} proof with byte {at} changed verified (index {index}, old {old}, size {size})"
                );
            }
        }
    }
}
