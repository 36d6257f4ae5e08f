//! Ed25519 keys and key ids.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::{to_hex, Digest};

/// A key id: the blake3 digest of the 32 raw bytes of an ed25519 public key, as 64 hex characters.
///
/// # Examples
///
/// ```
/// use ledger::keys::SecretKey;
/// let key = SecretKey::from_seed([7; 32]);
/// let id = key.public().key_id();
/// assert_eq!(id.0, ledger::Digest::of(key.public().as_bytes()));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub Digest);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for KeyId {
    type Err = crate::digest::ParseDigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(KeyId)
    }
}

/// An ed25519 public key, serialised as 64 lowercase hex characters of its 32 raw bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The key's id (see [`KeyId`]).
    pub fn key_id(&self) -> KeyId {
        KeyId(Digest::of(self.0.as_bytes()))
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Parses a 32-byte key; refuses bytes that are not the canonical encoding of a curve point,
    /// and weak (small-order) keys, which could make a signature verify for many messages.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, String> {
        let vk = VerifyingKey::from_bytes(bytes)
            .map_err(|_| "public key is not a valid ed25519 point".to_string())?;
        // One key, one encoding: a y coordinate of p or more also decodes, to the point of
        // y - p, and would give the same key a second key id.
        if vk.to_edwards().compress().as_bytes() != bytes {
            return Err("public key is not the canonical encoding of its point".into());
        }
        if vk.is_weak() {
            return Err("public key is a weak (small-order) ed25519 key".into());
        }
        Ok(PublicKey(vk))
    }

    /// Verifies `sig` over `msg` with RFC 8032 strict rules (canonical `S`, no small-order `R`).
    pub fn verify_strict(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
            return false;
        };
        self.0.verify_strict(msg, &sig).is_ok()
    }
}

/// A public key with a table of multiples of its point, for checking many signatures by one
/// key: [`KeyTable::verify_strict`] accepts exactly what [`PublicKey::verify_strict`] accepts,
/// in about two thirds of the time. Building the table (30 KB, about 0.75 ms) is paid back
/// after about 75 checks, so it is for a key with many signatures, as in verifying a ledger.
///
/// Strict verification (ed25519-dalek's `verify_strict`) accepts a signature `(R, S)` over
/// `M` by key `A` when: `S` is canonical (below the group order L); `R` decodes to a point of
/// which neither it nor `A` is of small order; and the encoding of `[S]B - [k]A`, with
/// `k = SHA-512(R || A || M) mod L`, is the 32 bytes of `R`. This type computes the same
/// point with fixed-base tables (`[S]B` from the curve library's table of the base point,
/// `[k](-A)` from this key's) instead of one double-scalar multiplication; the group
/// arithmetic is exact, so the point and its encoding are the same. It does not decode `R`:
/// when the encoding of the computed point equals `R`'s bytes, `R` is that point's canonical
/// encoding and decodes to it, so "`R` is of small order" is "the computed point is"; when
/// they differ, both checks refuse. A property test (`keys::tests`) runs both on small-order,
/// mixed-order and non-canonical inputs.
///
/// # Examples
///
/// ```
/// use ledger::keys::{KeyTable, SecretKey};
/// let key = SecretKey::from_seed([7; 32]);
/// let table = KeyTable::new(&key.public());
/// let sig = key.sign(b"msg");
/// assert!(table.verify_strict(b"msg", &sig));
/// assert!(!table.verify_strict(b"other", &sig));
/// ```
pub struct KeyTable {
    key: PublicKey,
    /// Multiples of `-A`.
    minus_a: curve25519_dalek::edwards::EdwardsBasepointTable,
    /// Whether `A` is of small order (never for a key [`PublicKey::from_bytes`] parses).
    weak: bool,
}

impl KeyTable {
    /// Builds the table of `key` (about 0.75 ms on this project's machines).
    pub fn new(key: &PublicKey) -> KeyTable {
        use curve25519_dalek::traits::BasepointTable;
        let point = key.0.to_edwards();
        KeyTable {
            key: *key,
            minus_a: curve25519_dalek::edwards::EdwardsBasepointTable::create(&-point),
            weak: point.is_small_order(),
        }
    }

    /// The key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// Verifies `sig` over `msg` by the key, with exactly the rules of
    /// [`PublicKey::verify_strict`] (see the type's documentation).
    pub fn verify_strict(&self, msg: &[u8], sig: &[u8]) -> bool {
        use curve25519_dalek::edwards::EdwardsPoint;
        use curve25519_dalek::scalar::Scalar;
        use sha2::{Digest as _, Sha512};
        let Ok(sig) = <&[u8; 64]>::try_from(sig) else {
            return false;
        };
        let (r, s) = sig.split_at(32);
        let s: [u8; 32] = s.try_into().expect("32 bytes");
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)) else {
            return false;
        };
        if self.weak {
            return false;
        }
        let k = Scalar::from_hash(
            Sha512::new().chain_update(r).chain_update(self.key.as_bytes()).chain_update(msg),
        );
        let point = EdwardsPoint::mul_base(&s) + &k * &self.minus_a;
        point.compress().as_bytes() == r && !point.is_small_order()
    }
}

impl std::fmt::Debug for KeyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyTable({})", self.key)
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&to_hex(self.0.as_bytes()))
    }
}

impl std::str::FromStr for PublicKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // A public key is 32 bytes, the same length as a digest, so the hex parser is shared.
        let d: Digest = s
            .parse()
            .map_err(|_| format!("`{s}` is not a public key: expected 64 lowercase hex characters"))?;
        PublicKey::from_bytes(&d.0)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An ed25519 private key. Never serialised by this crate except through [`SecretKey::seed`],
/// which key stores call explicitly.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        Ok(SecretKey::from_seed(seed))
    }

    /// The key whose RFC 8032 32-byte seed is `seed` (deterministic; used by tests and key files).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        SecretKey(SigningKey::from_bytes(&seed))
    }

    /// The 32-byte seed, for writing a key file.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `msg` (ed25519 is deterministic: the same key and message give the same signature).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey(public {})", self.public())
    }
}

#[cfg(test)]
mod tests {
    //! [`KeyTable::verify_strict`] against ed25519-dalek's `verify_strict` on inputs built to
    //! sit on every edge of the strict rules: keys and commitments with a torsion part, of
    //! small order, non-canonical encodings of points and scalars, and honest signatures.
    use super::*;
    use curve25519_dalek::constants::EIGHT_TORSION;
    use curve25519_dalek::edwards::EdwardsPoint;
    use curve25519_dalek::scalar::Scalar;
    use proptest::prelude::*;
    use sha2::{Digest as _, Sha512};

    /// How the commitment R of a signature is made.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
    enum RMode {
        /// `[r]B`, as a signer makes it.
        Honest,
        /// `[r]B` plus a point of small order (R is then of mixed order).
        PlusTorsion,
        /// A point of small order itself.
        SmallOrder,
        /// A point T of small order with `S = k a`: then `[S]B - [k]A` is `-[k]` times the
        /// key's torsion part, which is T for some keys and messages (always for T the identity
        /// and a key of prime order), and only the small-order rule refuses.
        SmallOrderSolved,
        /// A non-canonical encoding (y + p, or the sign bit set on x = 0) of a small-order point.
        NonCanonical,
        /// `[r]B` with the sign bit flipped.
        SignFlipped,
        /// 32 arbitrary bytes.
        Random,
    }

    /// How the scalar S is made.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
    enum SMode {
        /// `r + k a mod L`, as a signer makes it.
        Honest,
        /// The honest S plus L: the same scalar, not canonical.
        PlusOrder,
        /// 32 arbitrary bytes.
        Random,
    }

    const R_MODES: [RMode; 7] = [
        RMode::Honest,
        RMode::PlusTorsion,
        RMode::SmallOrder,
        RMode::SmallOrderSolved,
        RMode::NonCanonical,
        RMode::SignFlipped,
        RMode::Random,
    ];
    const S_MODES: [SMode; 3] = [SMode::Honest, SMode::PlusOrder, SMode::Random];

    /// Little-endian 256-bit addition; `None` on overflow.
    fn add_le(a: [u8; 32], b: [u8; 32]) -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = a[i] as u16 + b[i] as u16 + carry;
            out[i] = sum as u8;
            carry = sum >> 8;
        }
        (carry == 0).then_some(out)
    }

    /// p = 2^255 - 19, little-endian.
    fn field_prime() -> [u8; 32] {
        let mut p = [0xff; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        p
    }

    /// L = 2^252 + 27742317777372353535851937790883648493, little-endian.
    fn group_order() -> [u8; 32] {
        let mut l = [0u8; 32];
        l[..16].copy_from_slice(&[
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
        ]);
        l[31] = 0x10;
        assert_eq!(Scalar::from_bytes_mod_order(l), Scalar::ZERO);
        assert!(bool::from(Scalar::from_canonical_bytes(l).is_none()));
        l
    }

    struct Case {
        key: PublicKey,
        msg: Vec<u8>,
        sig: Vec<u8>,
    }

    /// A key `[a]B + T` (T of small order, the identity for `torsion == 0`) and a signature
    /// made as the modes say. `None` when the key is not one [`PublicKey::from_bytes`] accepts
    /// (small order, which only `a = 0` gives), or S plus L overflows 256 bits.
    #[allow(clippy::too_many_arguments)]
    fn case(
        a: [u8; 32],
        torsion: usize,
        r: [u8; 32],
        r_torsion: usize,
        r_mode: RMode,
        s_mode: SMode,
        random: [u8; 32],
        msg: Vec<u8>,
        altered: bool,
        truncated: bool,
    ) -> Option<Case> {
        let a = Scalar::from_bytes_mod_order(a);
        let point = EdwardsPoint::mul_base(&a) + EIGHT_TORSION[torsion % 8];
        let key = PublicKey::from_bytes(point.compress().as_bytes()).ok()?;
        let r = Scalar::from_bytes_mod_order(r);
        let t = EIGHT_TORSION[r_torsion % 8];
        let r_bytes: [u8; 32] = match r_mode {
            RMode::Honest => EdwardsPoint::mul_base(&r).compress().to_bytes(),
            RMode::PlusTorsion => (EdwardsPoint::mul_base(&r) + t).compress().to_bytes(),
            RMode::SmallOrder | RMode::SmallOrderSolved => t.compress().to_bytes(),
            RMode::NonCanonical => {
                // y = 0 and y = 1 are the small-order points with y < 19, so with y + p < 2^255;
                // the points with x = 0 (y = 1, y = -1) also decode with the sign bit set.
                let bytes = t.compress().to_bytes();
                match add_le(bytes, field_prime()) {
                    Some(big) if big[31] & 0x80 == 0 => big,
                    _ => {
                        let mut b = bytes;
                        b[31] |= 0x80;
                        b
                    }
                }
            }
            RMode::SignFlipped => {
                let mut b = EdwardsPoint::mul_base(&r).compress().to_bytes();
                b[31] ^= 0x80;
                b
            }
            RMode::Random => random,
        };
        let k = Scalar::from_hash(
            Sha512::new().chain_update(r_bytes).chain_update(key.as_bytes()).chain_update(&msg),
        );
        let s = if r_mode == RMode::SmallOrderSolved { k * a } else { r + k * a };
        let s_bytes = match s_mode {
            SMode::Honest => s.to_bytes(),
            SMode::PlusOrder => add_le(s.to_bytes(), group_order())?,
            SMode::Random => random.map(|b| b.rotate_left(3)),
        };
        let mut sig = [r_bytes, s_bytes].concat();
        if truncated {
            sig.pop();
        }
        let mut msg = msg;
        if altered {
            msg.push(0);
        }
        Some(Case { key, msg, sig })
    }

    fn both(c: &Case) -> (bool, bool) {
        (c.key.verify_strict(&c.msg, &c.sig), KeyTable::new(&c.key).verify_strict(&c.msg, &c.sig))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn a_key_table_accepts_exactly_what_strict_verification_accepts(
            a in any::<[u8; 32]>(),
            torsion in prop_oneof![Just(0usize), 0usize..8],
            r in any::<[u8; 32]>(),
            r_torsion in 0usize..8,
            r_mode in proptest::sample::select(R_MODES.to_vec()),
            s_mode in proptest::sample::select(S_MODES.to_vec()),
            random in any::<[u8; 32]>(),
            msg in proptest::collection::vec(any::<u8>(), 0..200),
            altered in proptest::bool::weighted(0.1),
            truncated in proptest::bool::weighted(0.05),
        ) {
            let Some(c) = case(a, torsion, r, r_torsion, r_mode, s_mode, random, msg, altered, truncated) else {
                return Err(TestCaseError::reject("small-order key"));
            };
            let (strict, table) = both(&c);
            prop_assert_eq!(strict, table, "r {:?}, s {:?}, key torsion {}", r_mode, s_mode, torsion);
        }
    }

    /// The generator above reaches both verdicts where both exist: without this, the property
    /// could hold because every input is refused.
    #[test]
    fn the_adversarial_inputs_reach_both_verdicts() {
        let mut seen = std::collections::BTreeMap::<(RMode, SMode, bool), (u32, u32)>::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            let mut b = [0u8; 32];
            for chunk in b.chunks_mut(8) {
                x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = x;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
            }
            b
        };
        for (i, (r_mode, s_mode, mixed, _)) in R_MODES
            .iter()
            .flat_map(|r| S_MODES.iter().flat_map(move |s| [false, true].map(|m| (*r, *s, m))))
            .flat_map(|(r, s, m)| (0..40).map(move |n| (r, s, m, n)))
            .enumerate()
        {
            let torsion = if mixed { 1 + i % 7 } else { 0 };
            let (a, r, random) = (next(), next(), next());
            let Some(c) = case(a, torsion, r, i / 3, r_mode, s_mode, random, a[..20].to_vec(), false, false)
            else {
                continue;
            };
            let (strict, table) = both(&c);
            assert_eq!(strict, table, "{r_mode:?} {s_mode:?} key torsion {torsion}");
            let e = seen.entry((r_mode, s_mode, mixed)).or_default();
            if strict {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
        let verdicts = |r, s, mixed| seen.get(&(r, s, mixed)).copied().unwrap_or_default();
        // An honest signature by a prime-order key is accepted; a mixed-order key's is accepted
        // only when `[k]T` vanishes, so sometimes; R with a torsion part likewise.
        assert_eq!(verdicts(RMode::Honest, SMode::Honest, false).1, 0);
        assert!(verdicts(RMode::Honest, SMode::Honest, false).0 > 0);
        let (yes, no) = verdicts(RMode::Honest, SMode::Honest, true);
        assert!(yes > 0 && no > 0, "mixed-order key: {yes} accepted, {no} refused");
        let (yes, no) = verdicts(RMode::PlusTorsion, SMode::Honest, true);
        assert!(yes > 0 && no > 0, "mixed-order R and key: {yes} accepted, {no} refused");
        // Refused always: non-canonical S, R of small order or non-canonical, a flipped sign.
        for ((r, s, mixed), (yes, _)) in &seen {
            if *s != SMode::Honest
                || matches!(
                    r,
                    RMode::SmallOrder | RMode::SmallOrderSolved | RMode::NonCanonical | RMode::SignFlipped
                )
            {
                assert_eq!(*yes, 0, "{r:?} {s:?} mixed {mixed} was accepted");
            }
        }
    }
}
