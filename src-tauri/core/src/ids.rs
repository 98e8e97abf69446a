//! Random identifiers and codes, made in one place: row ids, verification codes, action tokens, pairing codes.

use uuid::Uuid;

/// A new row id: a v4 UUID in its hyphenated form.
pub fn new_id() -> String {
    Uuid::new_v4().to_string()
}

/// A fresh code: 26 URL-safe characters from a new v4 UUID (see [`code_of`]).
pub fn new_code() -> String {
    code_of(Uuid::new_v4())
}

/// A UUID's 128 bits in lower-case RFC 4648 base32 without padding: 26 URL-safe characters.
pub fn code_of(uuid: Uuid) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let value = uuid.as_u128();
    (0..26i32)
        .map(|i| {
            // 26 groups of 5 bits cover 130 bits; the first group holds the top 3 bits.
            let shift = 125 - 5 * i;
            let group = if shift >= 0 { (value >> shift) & 31 } else { (value << (-shift)) & 31 };
            ALPHABET[group as usize] as char
        })
        .collect()
}

/// A fresh action token: 12 lower-case base32 characters (60 random bits), the tail of a new code.
pub fn new_token() -> String {
    let code = new_code();
    code[code.len() - TOKEN_LEN..].to_owned()
}

/// How long an action token is.
pub const TOKEN_LEN: usize = 12;

/// 32 random hex digits (a v4 UUID without hyphens), for the unique part of a Message-ID.
pub fn new_hex() -> String {
    Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_26_url_safe_characters_from_the_whole_uuid() {
        let a = code_of(Uuid::from_u128(0));
        assert_eq!(a, "a".repeat(26));
        let b = code_of(Uuid::from_u128(u128::MAX));
        assert_eq!(b.len(), 26);
        assert!(b.starts_with('h') && b[1..].chars().all(|c| c == '7'), "{b}");
        let c = new_code();
        assert!(c.chars().all(|ch| ch.is_ascii_lowercase() || ('2'..='7').contains(&ch)));
        assert_ne!(c, new_code());
    }

    #[test]
    fn tokens_are_twelve_code_characters() {
        let t = new_token();
        assert_eq!(t.len(), TOKEN_LEN);
        assert!(t.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)), "{t}");
    }
}
