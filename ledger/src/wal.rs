//! The commit journal: the durability barrier of the store.
//!
//! Every commit is first appended to `<dir>/pledge.wal` as one record and `fdatasync`ed; only
//! then is it applied to sled (whose own writes are made durable later, at a checkpoint). On
//! open, complete records are re-applied to sled (idempotently: the same keys get the same
//! values) and a torn final record, which was never acknowledged, is cut off.
//!
//! Record layout: `"PLW1"` | body length (u32 LE) | blake3(body) (32 bytes) | body, where
//! body = pair count (u32 LE) then, per pair, key length (u32 LE) | key | value length
//! (u32 LE) | value.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

const MAGIC: &[u8; 4] = b"PLW1";
const HEADER: usize = 4 + 4 + 32;

/// One commit: the sled key/value pairs it inserts.
pub(crate) type Record = Vec<(Vec<u8>, Vec<u8>)>;

pub(crate) struct Wal {
    file: File,
    len: u64,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(|s| u32::from_le_bytes(s.try_into().expect("4 bytes")))
}

fn decode_body(body: &[u8]) -> Option<Record> {
    let n = u32_at(body, 0)? as usize;
    let mut at = 4;
    let mut out = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let kl = u32_at(body, at)? as usize;
        let k = body.get(at + 4..at + 4 + kl)?.to_vec();
        at += 4 + kl;
        let vl = u32_at(body, at)? as usize;
        let v = body.get(at + 4..at + 4 + vl)?.to_vec();
        at += 4 + vl;
        out.push((k, v));
    }
    (at == body.len()).then_some(out)
}

impl Wal {
    /// Opens the journal, returning the complete records it holds; a torn tail is cut off.
    pub(crate) fn open(path: &Path) -> io::Result<(Wal, Vec<Record>)> {
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)?;
        let mut records = Vec::new();
        let mut at = 0usize;
        while let Some(header) = data.get(at..at + HEADER) {
            let len = u32_at(header, 4).expect("header has a length") as usize;
            let Some(body) = data.get(at + HEADER..at + HEADER + len) else { break };
            if &header[..4] != MAGIC || blake3::hash(body).as_bytes() != &header[8..40] {
                break;
            }
            let Some(rec) = decode_body(body) else { break };
            records.push(rec);
            at += HEADER + len;
        }
        if at as u64 != data.len() as u64 {
            // The rest was being written when the process died: it was never acknowledged.
            file.set_len(at as u64)?;
            file.sync_data()?;
        }
        file.seek(SeekFrom::Start(at as u64))?;
        Ok((Wal { file, len: at as u64 }, records))
    }

    /// Appends one record and makes it durable. On failure the journal is cut back to where it
    /// was, so a half-written record never precedes a later one.
    pub(crate) fn append(&mut self, record: &[(Vec<u8>, Vec<u8>)]) -> io::Result<()> {
        let mut body = Vec::with_capacity(4 + record.iter().map(|(k, v)| 8 + k.len() + v.len()).sum::<usize>());
        body.extend_from_slice(&(record.len() as u32).to_le_bytes());
        for (k, v) in record {
            body.extend_from_slice(&(k.len() as u32).to_le_bytes());
            body.extend_from_slice(k);
            body.extend_from_slice(&(v.len() as u32).to_le_bytes());
            body.extend_from_slice(v);
        }
        let body_len = u32::try_from(body.len()).map_err(|_| io::Error::other("commit larger than 4 GiB"))?;
        let mut buf = Vec::with_capacity(HEADER + body.len());
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&body_len.to_le_bytes());
        buf.extend_from_slice(blake3::hash(&body).as_bytes());
        buf.extend_from_slice(&body);
        let result = self.file.write_all(&buf).and_then(|_| self.file.sync_data());
        match result {
            Ok(()) => {
                self.len += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                let _ = self.file.seek(SeekFrom::Start(self.len));
                Err(e)
            }
        }
    }

    /// Empties the journal (after its records are durable in sled).
    pub(crate) fn reset(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.sync_data()?;
        self.len = 0;
        Ok(())
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}
