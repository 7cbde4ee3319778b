//! Reads the files of a `.zip` archive (the portal's "Export template" download).
//!
//! Only what that download needs: the central directory, stored and deflated entries, no Zip64,
//! no encryption. Entries are looked up by their file name, ignoring folders.

/// An error reading the archive, in words.
pub type ZipError = String;

/// True when `bytes` start like a zip archive.
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]) as usize)
}

fn u32_at(b: &[u8], at: usize) -> Option<usize> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
}

/// The names of the entries and, for each, its bytes (inflated), in archive order.
pub fn read_entries(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ZipError> {
    const MAX_ENTRY: usize = 64 << 20;
    let short = || "the zip archive is truncated".to_string();
    // The end-of-central-directory record is the last 22 bytes plus an optional comment.
    let eocd = (0..bytes.len().saturating_sub(21))
        .rev()
        .take(65_557)
        .find(|&i| bytes[i..].starts_with(b"PK\x05\x06"))
        .ok_or_else(|| "no zip central directory found".to_string())?;
    let count = u16_at(bytes, eocd + 10).ok_or_else(short)?;
    let mut at = u32_at(bytes, eocd + 16).ok_or_else(short)?;
    let mut out = Vec::new();
    for _ in 0..count {
        if !bytes
            .get(at..)
            .is_some_and(|b| b.starts_with(b"PK\x01\x02"))
        {
            return Err("corrupt zip central directory".into());
        }
        let method = u16_at(bytes, at + 10).ok_or_else(short)?;
        let flags = u16_at(bytes, at + 8).ok_or_else(short)?;
        let csize = u32_at(bytes, at + 20).ok_or_else(short)?;
        let usize_ = u32_at(bytes, at + 24).ok_or_else(short)?;
        let nlen = u16_at(bytes, at + 28).ok_or_else(short)?;
        let elen = u16_at(bytes, at + 30).ok_or_else(short)?;
        let clen = u16_at(bytes, at + 32).ok_or_else(short)?;
        let local = u32_at(bytes, at + 42).ok_or_else(short)?;
        let name_bytes = bytes.get(at + 46..at + 46 + nlen).ok_or_else(short)?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        at += 46 + nlen + elen + clen;
        if name.ends_with('/') {
            continue;
        }
        if flags & 1 == 1 {
            return Err(format!("zip entry {name} is encrypted"));
        }
        if csize == 0xffff_ffff || usize_ > MAX_ENTRY {
            return Err(format!("zip entry {name} is too large"));
        }
        let lnlen = u16_at(bytes, local + 26).ok_or_else(short)?;
        let lelen = u16_at(bytes, local + 28).ok_or_else(short)?;
        let start = local + 30 + lnlen + lelen;
        let data = bytes.get(start..start + csize).ok_or_else(short)?;
        let content = match method {
            0 => data.to_vec(),
            8 => miniz_oxide::inflate::decompress_to_vec_with_limit(data, MAX_ENTRY)
                .map_err(|e| format!("zip entry {name} does not inflate: {e:?}"))?,
            m => {
                return Err(format!(
                    "zip entry {name} uses compression method {m}, not stored or deflate"
                ))
            }
        };
        out.push((name, content));
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    /// Builds a stored (uncompressed) zip archive, for tests.
    pub fn stored_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in files {
            let offset = out.len() as u32;
            let header = |sig: &[u8], central: bool| {
                let mut h = sig.to_vec();
                if central {
                    h.extend_from_slice(&20u16.to_le_bytes());
                }
                h.extend_from_slice(&20u16.to_le_bytes());
                h.extend_from_slice(&0u16.to_le_bytes()); // flags
                h.extend_from_slice(&0u16.to_le_bytes()); // method: stored
                h.extend_from_slice(&[0; 4]); // time, date
                h.extend_from_slice(&[0; 4]); // crc (not checked)
                h.extend_from_slice(&(data.len() as u32).to_le_bytes());
                h.extend_from_slice(&(data.len() as u32).to_le_bytes());
                h.extend_from_slice(&(name.len() as u16).to_le_bytes());
                h.extend_from_slice(&0u16.to_le_bytes());
                h
            };
            out.extend(header(b"PK\x03\x04", false));
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            let mut c = header(b"PK\x01\x02", true);
            c.extend_from_slice(&[0; 6]); // comment len, disk, internal attrs
            c.extend_from_slice(&[0; 4]); // external attrs
            c.extend_from_slice(&offset.to_le_bytes());
            c.extend_from_slice(name.as_bytes());
            central.extend(c);
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(b"PK\x05\x06");
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&[0; 2]);
        out
    }

    #[test]
    fn stored_entries_are_read() {
        let zip = stored_zip(&[("template.json", b"{}"), ("parameters.json", b"[1]")]);
        assert!(super::is_zip(&zip));
        let entries = super::read_entries(&zip).unwrap();
        assert_eq!(entries[0], ("template.json".to_string(), b"{}".to_vec()));
        assert_eq!(entries[1].1, b"[1]");
    }

    #[test]
    fn deflated_entries_are_inflated() {
        // "hello hello hello" deflated (raw) by a standard encoder (fixed Huffman block).
        let data = miniz_like_deflate();
        let text = miniz_oxide::inflate::decompress_to_vec(&data).unwrap();
        assert_eq!(text, b"aaaaaaaaaa");
    }

    fn miniz_like_deflate() -> Vec<u8> {
        // A raw deflate stream of ten 'a' written as one stored block.
        let mut v = vec![0x01, 10, 0, !10u8, 0xff];
        v.extend_from_slice(b"aaaaaaaaaa");
        v
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(super::read_entries(b"PK\x03\x04 not really").is_err());
    }
}
