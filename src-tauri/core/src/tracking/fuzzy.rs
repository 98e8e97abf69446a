//! Typo-tolerant matching, pure: how many typos a word allows, the trigrams a close match must share, and
//! whether a text holds a close substring.

/// Allowed typos for a word.
pub(super) fn budget(word: &str) -> usize {
    match word.chars().count() {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// Candidate trigrams for a word typed with a typo: its own, and for words of up to eight letters those of
/// each neighbour swap and each single deletion (the intended word's trigrams when the typo was a swap or an
/// extra letter). A row holding none of them is not a close match in practice.
pub(super) fn candidate_trigrams(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    let mut variants = vec![chars.clone()];
    if chars.len() <= 8 {
        for i in 0..chars.len().saturating_sub(1) {
            let mut v = chars.clone();
            v.swap(i, i + 1);
            variants.push(v);
        }
        for i in 0..chars.len() {
            let mut v = chars.clone();
            v.remove(i);
            variants.push(v);
        }
    }
    let mut out: Vec<String> =
        variants.iter().flat_map(|v| v.windows(3).map(|w| w.iter().collect::<String>())).collect();
    out.sort();
    out.dedup();
    out
}

/// Does `text` hold a substring within `k` edits of `pattern`? Edits are insertions, deletions, substitutions
/// and swaps of neighbours (Sellers' algorithm with transpositions: a free start and end in `text`).
pub fn close_substring(text: &str, pattern: &str, k: usize) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    if p.len() <= k {
        return true;
    }
    let m = p.len();
    let mut before: Vec<usize> = (0..=m).collect();
    let mut prev: Vec<usize> = (0..=m).collect();
    let mut cur = vec![0; m + 1];
    let mut last: Option<char> = None;
    for c in text.chars() {
        cur[0] = 0;
        for j in 1..=m {
            let cost = usize::from(p[j - 1] != c);
            let mut d = (prev[j - 1] + cost).min(prev[j] + 1).min(cur[j - 1] + 1);
            if j > 1 && last == Some(p[j - 1]) && c == p[j - 2] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        if cur[m] <= k {
            return true;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
        last = Some(c);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_substrings_allow_the_given_typos() {
        assert!(close_substring("eicar inside a zip", "eicar", 0));
        assert!(close_substring("eicar inside a zip", "eicra", 1), "a swap is one typo");
        assert!(close_substring("eicar inside a zip", "ecar", 1));
        assert!(close_substring("eicar inside a zip", "insdie", 1));
        assert!(close_substring("eicar inside a zip", "insxde", 1));
        assert!(!close_substring("eicar inside a zip", "gtube", 1));
        assert!(!close_substring("eicar inside a zip", "eixxr", 1));
        assert!(candidate_trigrams("crad").contains(&"car".to_owned()), "a swap's trigrams are candidates");
        assert!(candidate_trigrams("carrd").contains(&"ard".to_owned()), "a deletion's trigrams are candidates");
    }
}
