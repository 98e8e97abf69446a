//! Test files, built at run time and harmless by construction. The anti-virus test string is kept masked in
//! the program and assembled only when a message is built, so neither the source tree nor the binaries carry it.

use std::io::Write;

/// The EICAR anti-virus test file (68 bytes). Every anti-virus product detects it; it does nothing.
pub fn eicar() -> Vec<u8> {
    unmask(&EICAR_MASKED)
}

/// The GTUBE spam test string: every spam filter scores it as spam.
pub fn gtube() -> String {
    String::from_utf8(unmask(&GTUBE_MASKED)).expect("ASCII")
}

const MASK: u8 = 0x5a;

// The published test strings, each byte XOR MASK.
const EICAR_MASKED: [u8; 68] = [
    0x02, 0x6f, 0x15, 0x7b, 0x0a, 0x7f, 0x1a, 0x1b, 0x0a, 0x01, 0x6e, 0x06, 0x0a, 0x00, 0x02, 0x6f, 0x6e, 0x72, 0x0a,
    0x04, 0x73, 0x6d, 0x19, 0x19, 0x73, 0x6d, 0x27, 0x7e, 0x1f, 0x13, 0x19, 0x1b, 0x08, 0x77, 0x09, 0x0e, 0x1b, 0x14,
    0x1e, 0x1b, 0x08, 0x1e, 0x77, 0x1b, 0x14, 0x0e, 0x13, 0x0c, 0x13, 0x08, 0x0f, 0x09, 0x77, 0x0e, 0x1f, 0x09, 0x0e,
    0x77, 0x1c, 0x13, 0x16, 0x1f, 0x7b, 0x7e, 0x12, 0x71, 0x12, 0x70,
];

const GTUBE_MASKED: [u8; 68] = [
    0x02, 0x10, 0x09, 0x70, 0x19, 0x6e, 0x10, 0x1e, 0x18, 0x0b, 0x1b, 0x1e, 0x14, 0x6b, 0x74, 0x14, 0x09, 0x18, 0x14,
    0x69, 0x70, 0x68, 0x13, 0x1e, 0x14, 0x1f, 0x14, 0x70, 0x1d, 0x0e, 0x0f, 0x18, 0x1f, 0x77, 0x09, 0x0e, 0x1b, 0x14,
    0x1e, 0x1b, 0x08, 0x1e, 0x77, 0x1b, 0x14, 0x0e, 0x13, 0x77, 0x0f, 0x18, 0x1f, 0x77, 0x0e, 0x1f, 0x09, 0x0e, 0x77,
    0x1f, 0x17, 0x1b, 0x13, 0x16, 0x70, 0x19, 0x74, 0x69, 0x6e, 0x02,
];

fn unmask(masked: &[u8]) -> Vec<u8> {
    // black_box keeps the compiler from folding the result into a constant in the binary.
    let key = std::hint::black_box(MASK);
    masked.iter().map(|b| b ^ key).collect()
}

/// A zip holding `files` (name, bytes), deflated; optionally encrypted.
pub fn zip(files: &[(&str, &[u8])], encryption: ZipEncryption) -> Vec<u8> {
    use zip::unstable::write::FileOptionsExt;
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        let opts = match encryption {
            ZipEncryption::None => options,
            ZipEncryption::ZipCrypto(pw) => options.with_deprecated_encryption(pw.as_bytes()),
            ZipEncryption::Aes256(pw) => options.with_aes_encryption(zip::AesMode::Aes256, pw),
        };
        w.start_file(*name, opts).expect("writing to memory");
        w.write_all(bytes).expect("writing to memory");
    }
    w.finish().expect("writing to memory").into_inner()
}

#[derive(Debug, Clone, Copy)]
pub enum ZipEncryption {
    None,
    ZipCrypto(&'static str),
    Aes256(&'static str),
}

/// `inner` wrapped in `depth` zips, each holding the previous one.
pub fn nested_zip(name: &str, inner: &[u8], depth: usize) -> Vec<u8> {
    let mut bytes = zip(&[(name, inner)], ZipEncryption::None);
    for level in 2..=depth {
        bytes = zip(&[(&format!("level{}.zip", level - 1), &bytes)], ZipEncryption::None);
    }
    bytes
}

/// A gzip-compressed tar holding one file.
pub fn tar_gz(name: &str, bytes: &[u8]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, name, bytes).expect("writing to memory");
    tar.into_inner().and_then(|gz| gz.finish()).expect("writing to memory")
}

/// One file gzip-compressed.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("writing to memory");
    gz.finish().expect("writing to memory")
}

const SECTOR: usize = 2048;

/// A minimal ISO 9660 image (the disc-image container mail filters treat as risky) holding one file whose name
/// is in 8.3 form, e.g. `EICAR.COM`.
pub fn iso9660(name: &str, bytes: &[u8]) -> Vec<u8> {
    let file_sectors = bytes.len().div_ceil(SECTOR).max(1);
    let (pvd, term, l_table, m_table, root, data) = (16, 17, 18, 19, 20, 21);
    let total = data + file_sectors;
    let mut img = vec![0u8; total * SECTOR];

    let both32 = |v: u32| {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&v.to_le_bytes());
        b[4..].copy_from_slice(&v.to_be_bytes());
        b
    };
    let both16 = |v: u16| {
        let mut b = [0u8; 4];
        b[..2].copy_from_slice(&v.to_le_bytes());
        b[2..].copy_from_slice(&v.to_be_bytes());
        b
    };
    let record = |extent: usize, len: usize, flags: u8, ident: &[u8]| {
        let mut r = vec![0u8; 33 + ident.len() + (ident.len() + 1) % 2];
        r[0] = r.len() as u8;
        r[2..10].copy_from_slice(&both32(extent as u32));
        r[10..18].copy_from_slice(&both32(len as u32));
        r[18..25].copy_from_slice(&[126, 1, 1, 0, 0, 0, 0]); // 2026-01-01 00:00:00 UTC
        r[25] = flags;
        r[28..32].copy_from_slice(&both16(1));
        r[32] = ident.len() as u8;
        r[33..33 + ident.len()].copy_from_slice(ident);
        r
    };
    let root_record = record(root, SECTOR, 2, &[0]);

    let p = &mut img[pvd * SECTOR..(pvd + 1) * SECTOR];
    p[0] = 1;
    p[1..6].copy_from_slice(b"CD001");
    p[6] = 1;
    p[8..40].copy_from_slice(&pad(b"MAILPROOF", 32));
    p[40..72].copy_from_slice(&pad(b"MAILPROOF_TEST", 32));
    p[80..88].copy_from_slice(&both32(total as u32));
    p[120..124].copy_from_slice(&both16(1));
    p[124..128].copy_from_slice(&both16(1));
    p[128..132].copy_from_slice(&both16(SECTOR as u16));
    p[132..140].copy_from_slice(&both32(10));
    p[140..144].copy_from_slice(&(l_table as u32).to_le_bytes());
    p[148..152].copy_from_slice(&(m_table as u32).to_be_bytes());
    p[156..190].copy_from_slice(&root_record);
    for field in [(190, 128), (318, 128), (446, 128), (574, 128), (702, 37), (739, 37), (776, 37)] {
        p[field.0..field.0 + field.1].fill(b' ');
    }
    p[574..574 + 9].copy_from_slice(b"MAILPROOF");
    for at in [813, 830] {
        p[at..at + 16].copy_from_slice(b"2026010100000000");
    }
    for at in [847, 864] {
        p[at..at + 16].copy_from_slice(b"0000000000000000");
    }
    p[881] = 1;

    let t = &mut img[term * SECTOR..(term + 1) * SECTOR];
    t[0] = 255;
    t[1..6].copy_from_slice(b"CD001");
    t[6] = 1;

    // Path tables: the root directory only (name length 1, extent, parent 1, name 0, pad).
    let l = &mut img[l_table * SECTOR..];
    l[0] = 1;
    l[2..6].copy_from_slice(&(root as u32).to_le_bytes());
    l[6..8].copy_from_slice(&1u16.to_le_bytes());
    let m = &mut img[m_table * SECTOR..];
    m[0] = 1;
    m[2..6].copy_from_slice(&(root as u32).to_be_bytes());
    m[6..8].copy_from_slice(&1u16.to_be_bytes());

    let mut dir = Vec::new();
    dir.extend(record(root, SECTOR, 2, &[0]));
    dir.extend(record(root, SECTOR, 2, &[1]));
    dir.extend(record(data, bytes.len(), 0, format!("{};1", name.to_ascii_uppercase()).as_bytes()));
    img[root * SECTOR..root * SECTOR + dir.len()].copy_from_slice(&dir);
    img[data * SECTOR..data * SECTOR + bytes.len()].copy_from_slice(bytes);
    img
}

fn pad(s: &[u8], n: usize) -> Vec<u8> {
    let mut v = s.to_vec();
    v.resize(n, b' ');
    v
}

/// A Windows shortcut (Shell Link, MS-SHLLINK) header with no target: Windows shows it as a broken shortcut.
pub fn lnk_without_target() -> Vec<u8> {
    let mut b = vec![0u8; 76];
    b[0..4].copy_from_slice(&0x4Cu32.to_le_bytes());
    // LinkCLSID 00021401-0000-0000-C000-000000000046
    b[4..20].copy_from_slice(&[0x01, 0x14, 0x02, 0, 0, 0, 0, 0, 0xC0, 0, 0, 0, 0, 0, 0, 0x46]);
    b[60..64].copy_from_slice(&1u32.to_le_bytes()); // SW_SHOWNORMAL
    b
}

/// Starts like a Windows program (the `MZ` header) but holds only text: Windows refuses to run it.
pub fn mz_text_stub(note: &str) -> Vec<u8> {
    let mut b = b"MZ".to_vec();
    b.resize(64, 0);
    b.extend_from_slice(note.as_bytes());
    b
}

/// An Office Open XML macro-enabled document (`.docm` or `.xlsm`) whose `vbaProject.bin` part is a text
/// placeholder, not a VBA project: the file has the macro-enabled shape and no macro code.
pub fn macro_enabled_office(kind: OfficeKind) -> Vec<u8> {
    let placeholder = b"Mailproof test file: this part is named like a VBA project but contains no code.".as_slice();
    let (main_type, main_path, rels_path, main_xml) = match kind {
        OfficeKind::Docm => (
            "application/vnd.ms-word.document.macroEnabled.main+xml",
            "word/document.xml",
            "word/_rels/document.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Mailproof test document. It contains no macro code.</w:t></w:r></w:p></w:body></w:document>"#,
        ),
        OfficeKind::Xlsm => (
            "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
            "xl/workbook.xml",
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets/></workbook>"#,
        ),
    };
    let dir = main_path.split('/').next().unwrap_or("word");
    let content_types = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/><Override PartName="/{main_path}" ContentType="{main_type}"/></Types>"#
    );
    let rels = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="{main_path}"/></Relationships>"#
    );
    let main_rels = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.microsoft.com/office/2006/relationships/vbaProject" Target="vbaProject.bin"/></Relationships>"#;
    let vba = format!("{dir}/vbaProject.bin");
    zip(
        &[
            ("[Content_Types].xml", content_types.as_bytes()),
            ("_rels/.rels", rels.as_bytes()),
            (main_path, main_xml.as_bytes()),
            (rels_path, main_rels.as_bytes()),
            (&vba, placeholder),
        ],
        ZipEncryption::None,
    )
}

#[derive(Debug, Clone, Copy)]
pub enum OfficeKind {
    Docm,
    Xlsm,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sha(b: &[u8]) -> String {
        mailproof_mail::message::sha256_hex(b)
    }

    #[test]
    fn test_strings_are_the_published_ones() {
        // Published SHA-256 of the 68-byte EICAR file, and the GTUBE string's shape.
        assert_eq!(sha(&eicar()), "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f");
        let g = gtube();
        assert!(g.starts_with("XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL"), "{g}");
    }

    #[test]
    fn archives_hold_what_they_say() {
        let z = zip(&[("a.txt", b"hello")], ZipEncryption::None);
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(z)).unwrap();
        let mut s = String::new();
        archive.by_name("a.txt").unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");

        let z = zip(&[("a.txt", b"hello")], ZipEncryption::Aes256("infected"));
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(z)).unwrap();
        assert!(archive.by_index(0).is_err(), "encrypted entries need the password");
        let mut s = String::new();
        archive.by_index_decrypt(0, b"infected").unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");

        let z = zip(&[("a.txt", b"hello")], ZipEncryption::ZipCrypto("infected"));
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(z)).unwrap();
        let mut s = String::new();
        archive.by_index_decrypt(0, b"infected").unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");

        let nested = nested_zip("a.txt", b"x", 3);
        let mut outer = zip::ZipArchive::new(std::io::Cursor::new(nested)).unwrap();
        assert_eq!(outer.by_index(0).unwrap().name(), "level2.zip");

        let tgz = tar_gz("a.txt", b"hello");
        let mut t = tar::Archive::new(flate2::read::GzDecoder::new(&tgz[..]));
        let mut entry = t.entries().unwrap().next().unwrap().unwrap();
        let mut s = String::new();
        entry.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello");
    }

    #[test]
    fn the_iso_image_has_a_volume_descriptor_and_the_file() {
        let img = iso9660("A.TXT", b"hello");
        assert_eq!(&img[16 * 2048 + 1..16 * 2048 + 6], b"CD001");
        assert_eq!(img[17 * 2048], 255);
        assert_eq!(&img[21 * 2048..21 * 2048 + 5], b"hello");
        let root = &img[20 * 2048..21 * 2048];
        assert!(root.windows(7).any(|w| w == b"A.TXT;1"));
    }

    #[test]
    fn shells_of_dangerous_types() {
        assert_eq!(lnk_without_target().len(), 76);
        assert!(mz_text_stub("x").starts_with(b"MZ"));
        let docm = macro_enabled_office(OfficeKind::Docm);
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(docm)).unwrap();
        assert!(archive.by_name("word/vbaProject.bin").is_ok());
    }
}
