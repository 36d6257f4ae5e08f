//! The key store: private signing keys as files `keys/NAME.key` (the 32-byte seed in hex) in a
//! home directory, readable only by their owner.

use std::io::Write;
use std::path::{Path, PathBuf};

use ledger::keys::SecretKey;

use super::failure::{Failure, INVALID_INPUT};

/// The key directory: `explicit`, else `$PLEDGE_HOME` (which clap reads into `explicit`), else
/// `~/.config/pledge`.
pub fn home(explicit: Option<&Path>) -> Result<PathBuf, Failure> {
    if let Some(h) = explicit {
        return Ok(h.to_path_buf());
    }
    let base = std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or_else(|| Failure::new(INVALID_INPUT, "no home directory").hint("set PLEDGE_HOME"))?;
    Ok(base.join(".config").join("pledge"))
}

/// A principal or key name: the same rules as the ledger's principals.
pub fn check_name(name: &str) -> Result<(), Failure> {
    ledger::trust::validate_principal(name).map_err(|e| Failure::new(INVALID_INPUT, e))
}

fn key_path(home: &Path, name: &str) -> PathBuf {
    home.join("keys").join(format!("{name}.key"))
}

/// Loads the private key `name` from `home`.
pub fn load(home: &Path, name: &str) -> Result<SecretKey, Failure> {
    check_name(name)?;
    let path = key_path(home, name);
    let text = std::fs::read_to_string(&path).map_err(|_| {
        Failure::new(INVALID_INPUT, format!("no key `{name}` in `{}`", home.join("keys").display()))
            .hint(format!("create it with `pledge keys new {name}`"))
    })?;
    let seed: ledger::Digest = text.trim().parse().map_err(|_| {
        Failure::new(
            INVALID_INPUT,
            format!("`{}` is not a Pledge key file (64 hex characters)", path.display()),
        )
    })?;
    Ok(SecretKey::from_seed(seed.0))
}

/// Creates a new private key `name` in `home`, readable only by its owner. Refuses to
/// overwrite an existing key.
pub fn create(home: &Path, name: &str) -> Result<SecretKey, Failure> {
    let key = SecretKey::generate().map_err(|e| Failure::internal(anyhow::anyhow!("no randomness: {e}")))?;
    store(home, name, &key)?;
    Ok(key)
}

/// Writes `key` as `name` in `home` (mode 0600), refusing to overwrite an existing key.
pub fn store(home: &Path, name: &str, key: &SecretKey) -> Result<(), Failure> {
    check_name(name)?;
    let dir = home.join("keys");
    std::fs::create_dir_all(&dir).map_err(Failure::internal)?;
    let path = key_path(home, name);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::new(INVALID_INPUT, format!("key `{name}` already exists in `{}`", dir.display()))
                .hint("keys are never overwritten; pick another name, or another --home")
        } else {
            Failure::internal(e)
        }
    })?;
    let hex: String = key.seed().iter().map(|b| format!("{b:02x}")).collect();
    f.write_all(format!("{hex}\n").as_bytes()).and_then(|_| f.sync_all()).map_err(Failure::internal)
}

/// The DER prefix of an Ed25519 private key in PKCS#8 v1 (RFC 8410 section 7): a
/// `PrivateKeyInfo` with version 0, algorithm id-Ed25519 (1.3.101.112, no parameters) and the
/// 32-byte seed as an OCTET STRING inside the `privateKey` OCTET STRING.
pub const PKCS8_ED25519_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/// `key` as PKCS#8 DER (48 bytes), the form WebCrypto's `importKey("pkcs8", ...)` and OpenSSL
/// read.
pub fn pkcs8_der(key: &SecretKey) -> Vec<u8> {
    let mut der = PKCS8_ED25519_PREFIX.to_vec();
    der.extend_from_slice(&key.seed());
    der
}

/// `key` as a PEM `PRIVATE KEY` block (base64 of [`pkcs8_der`], 64 characters a line).
pub fn pkcs8_pem(key: &SecretKey) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8_der(key));
    let lines: Vec<&str> =
        b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
    format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"))
}

/// Writes `bytes` to a new file `path`, readable only by its owner; never overwrites.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::new(
                INVALID_INPUT,
                format!("`{}` already exists; a private key is never written over a file", path.display()),
            )
        } else {
            Failure::new(INVALID_INPUT, format!("cannot create `{}`: {e}", path.display()))
        }
    })?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| {
        let _ = std::fs::remove_file(path);
        Failure::new(super::failure::STORAGE, format!("cannot write `{}`: {e}", path.display()))
    })
}

/// Names of the keys in `home`.
pub fn list(home: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(home.join("keys"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".key").map(String::from))
        .collect();
    names.sort();
    names
}
