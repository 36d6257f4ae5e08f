//! Published checkpoints, kept beside the store: `<ledger>/checkpoints/<size>.checkpoint`
//! (the size zero-padded to 20 digits, so that names sort by size), each a signed note with
//! the log's signature and the cosignatures collected since. Every checkpoint ever published
//! is kept. Files are replaced atomically (write, `fsync`, rename, `fsync` of the directory).

use std::path::{Path, PathBuf};

use crate::note::{Checkpoint, NoteKey, Signature, SignedNote};

/// The checkpoints of one ledger.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    dir: PathBuf,
}

/// A published checkpoint as kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// What it says.
    pub checkpoint: Checkpoint,
    /// The note, the log's signature and every cosignature.
    pub note: SignedNote,
}

impl Checkpoints {
    /// The checkpoints of the ledger in `ledger_dir`.
    pub fn of(ledger_dir: &Path) -> Checkpoints {
        Checkpoints { dir: ledger_dir.join("checkpoints") }
    }

    fn path(&self, size: u64) -> PathBuf {
        self.dir.join(format!("{size:020}.checkpoint"))
    }

    /// Keeps a checkpoint the log signed. The caller has checked it against the tree. A
    /// checkpoint of the same size is merged: the signatures of both are kept (their texts
    /// must be equal: two roots for one size are a fork, refused).
    pub fn publish(&self, note: &SignedNote) -> std::io::Result<Published> {
        let checkpoint = Checkpoint::from_note(note).map_err(std::io::Error::other)?;
        let mut kept = match self.get(checkpoint.size)? {
            Some(old) if old.note.text != note.text => {
                return Err(std::io::Error::other(format!(
                    "a different checkpoint of size {} is already published: the log would fork",
                    checkpoint.size
                )))
            }
            Some(old) => old.note,
            None => SignedNote { text: note.text.clone(), signatures: vec![] },
        };
        for s in &note.signatures {
            kept.add(s.clone());
        }
        self.write(checkpoint.size, &kept)?;
        Ok(Published { checkpoint, note: kept })
    }

    /// Adds a cosignature to the checkpoint of `size`, after checking it with `witness`.
    pub fn add_cosignature(
        &self,
        size: u64,
        witness: &NoteKey,
        signature: Signature,
    ) -> Result<Published, String> {
        let mut p =
            self.get(size).map_err(|e| e.to_string())?.ok_or(format!("no checkpoint of size {size}"))?;
        let mut probe = p.note.clone();
        probe.signatures = vec![signature.clone()];
        witness.verify(&probe)?;
        p.note.add(signature);
        self.write(size, &p.note).map_err(|e| e.to_string())?;
        Ok(p)
    }

    fn write(&self, size: u64, note: &SignedNote) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(size);
        let tmp = self.dir.join(format!(".{size:020}.{}.tmp", std::process::id()));
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(note.to_string().as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()
    }

    /// The checkpoint of `size`, if one was published.
    pub fn get(&self, size: u64) -> std::io::Result<Option<Published>> {
        match std::fs::read_to_string(self.path(size)) {
            Ok(text) => {
                let note = SignedNote::parse(&text).map_err(std::io::Error::other)?;
                let checkpoint = Checkpoint::from_note(&note).map_err(std::io::Error::other)?;
                Ok(Some(Published { checkpoint, note }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The sizes of every published checkpoint, ascending.
    pub fn sizes(&self) -> std::io::Result<Vec<u64>> {
        let mut out = Vec::new();
        match std::fs::read_dir(&self.dir) {
            Ok(entries) => {
                for e in entries {
                    let name = e?.file_name();
                    let name = name.to_string_lossy();
                    if let Some(size) = name.strip_suffix(".checkpoint").and_then(|s| s.parse().ok()) {
                        out.push(size);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        out.sort_unstable();
        Ok(out)
    }

    /// The largest published checkpoint.
    pub fn latest(&self) -> std::io::Result<Option<Published>> {
        match self.sizes()?.last() {
            Some(size) => self.get(*size),
            None => Ok(None),
        }
    }

    /// The smallest published checkpoint of at least `size` leaves.
    pub fn covering(&self, size: u64) -> std::io::Result<Option<Published>> {
        match self.sizes()?.into_iter().find(|s| *s >= size) {
            Some(s) => self.get(s),
            None => Ok(None),
        }
    }
}
