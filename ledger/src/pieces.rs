//! Writing large buffers to files in pieces of at most [`PIECE`] bytes per system call.
//!
//! `write_all` hands the kernel the whole buffer in one `write`. On the virtual machines
//! Pledge is measured on (Linux 6.18, ext4), one `write` of 4 MiB or more into a file's page
//! cache costs 25 to 40 times as much as the same bytes in writes of 1 MiB or less: 64 MiB took
//! 0.47 to 0.91 s in one `write` and 0.02 s in pieces (the kernel backs a large write with
//! large folios, which are expensive to obtain there). A snapshot at a million events is 64
//! MiB, so every large file Pledge writes (snapshots, event index runs, exports, journal
//! records) goes through here. Nothing else changes: the same bytes, in the same order.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

/// The most bytes handed to the kernel in one call: below the sizes that were slow, above
/// those that cost more in calls (64 KiB and 1 MiB measured alike).
pub const PIECE: usize = 1 << 20;

/// Writes all of `bytes` to `w`, [`PIECE`] bytes per call at most.
///
/// ```
/// let mut out = Vec::new();
/// ledger::pieces::write_all(&mut out, &[7u8; 3 << 20]).unwrap();
/// assert_eq!(out.len(), 3 << 20);
/// ```
pub fn write_all(w: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    bytes.chunks(PIECE).try_for_each(|piece| w.write_all(piece))
}

/// Writes all of `bytes` to `file` at `offset` (positioned writes, the file's cursor left
/// alone), [`PIECE`] bytes per call at most.
pub fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    let mut at = offset;
    for piece in bytes.chunks(PIECE) {
        file.write_all_at(piece, at)?;
        at += piece.len() as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that records the size of every call and accepts at most `most` bytes of each.
    struct Calls {
        sizes: Vec<usize>,
        bytes: Vec<u8>,
        most: usize,
    }

    impl Write for Calls {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.sizes.push(buf.len());
            let n = buf.len().min(self.most);
            self.bytes.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn no_call_is_handed_more_than_a_piece_and_every_byte_arrives_in_order() {
        for len in [0, 1, PIECE - 1, PIECE, PIECE + 1, 3 * PIECE + 17] {
            for most in [usize::MAX, 4096, 1] {
                if most == 1 && len > PIECE {
                    continue; // a byte per call: slow, and the same property as 4096
                }
                let bytes = pattern(len);
                let mut w = Calls { sizes: vec![], bytes: vec![], most };
                write_all(&mut w, &bytes).unwrap();
                assert_eq!(w.bytes, bytes, "len {len}, short writes of {most}");
                assert!(w.sizes.iter().all(|&s| s <= PIECE), "len {len}: calls {:?}", w.sizes);
                if most == usize::MAX {
                    assert_eq!(w.sizes.len(), len.div_ceil(PIECE), "len {len}");
                }
            }
        }
    }

    #[test]
    fn positioned_pieces_land_at_their_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let bytes = pattern(2 * PIECE + 5);
        write_all_at(&f, b"head", 0).unwrap();
        write_all_at(&f, &bytes, 4).unwrap();
        let mut want = b"head".to_vec();
        want.extend_from_slice(&bytes);
        assert_eq!(std::fs::read(&path).unwrap(), want);
    }
}
