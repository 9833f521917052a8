//! CLIP's byte-level BPE tokenizer, written out by hand.
//!
//! It follows Hugging Face's `CLIPTokenizer` (the `tokenizers`-backed one,
//! the default since transformers 5 and `CLIPTokenizerFast` before; the
//! same steps are in a model's `tokenizer.json`):
//!
//! 1. **Special tokens**: the literal strings `<|startoftext|>` and
//!    `<|endoftext|>` in the text (case-sensitive) become their own ids; the
//!    text between them goes through steps 2–5.
//! 2. **Normalisation**: Unicode normal form C, then every character
//!    lower-cased on its own (so a final capital sigma becomes σ, not ς).
//! 3. **Pre-tokenisation** with CLIP's pattern
//!    `<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`:
//!    letter runs, single digits, runs of other symbols; whitespace between
//!    matches is dropped.
//! 4. **Byte-level mapping**: each piece's UTF-8 bytes are written with
//!    GPT-2's byte-to-unicode table (printable bytes stand for themselves,
//!    the others are shifted to U+0100 and up), so every byte is a symbol.
//! 5. **BPE**: the last symbol of a piece carries the end-of-word marker
//!    `</w>`; the adjacent pair with the lowest merge rank is merged,
//!    everywhere in the piece, until no ranked pair remains.
//! 6. **Ids**: `<|startoftext|>` + the pieces' ids + `<|endoftext|>`.
//!
//! The older pure-Python `CLIPTokenizer` of transformers 4 (without `ftfy`)
//! cleaned the text differently — it dropped control characters and put
//! spaces around CJK ideographs — so on such text the two disagree; this
//! crate follows the current one, checked against it on the fixture strings.
//! Where Hugging Face would replace a piece missing from the vocabulary with
//! `<|endoftext|>`, this tokenizer reports it: with a byte-level base
//! vocabulary it cannot happen, and silently changing the query is worse
//! than an error.

use std::collections::HashMap;
use std::path::Path;

use regex::Regex;
use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

use crate::config::read_json;
use crate::error::{ClipError, Result};

/// Start-of-text marker.
pub const BOS: &str = "<|startoftext|>";
/// End-of-text marker.
pub const EOS: &str = "<|endoftext|>";
/// The end-of-word suffix of the last symbol of each piece.
pub const END_OF_WORD: &str = "</w>";

/// CLIP's pre-tokenisation pattern.
const PATTERN: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

/// A byte-level BPE tokenizer with CLIP's conventions.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    vocab: HashMap<String, u32>,
    ranks: HashMap<(String, String), usize>,
    byte_symbols: [char; 256],
    pattern: Regex,
    bos: u32,
    eos: u32,
}

/// GPT-2's byte-to-unicode table: bytes `!`..=`~`, `¡`..=`¬` and `®`..=`ÿ`
/// stand for themselves; the remaining 68 bytes take code points 256, 257, …
/// in byte order.
pub fn byte_symbols() -> [char; 256] {
    let printable = |b: u32| {
        (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b)
    };
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for (b, slot) in table.iter_mut().enumerate() {
        let b = b as u32;
        let cp = if printable(b) {
            b
        } else {
            next += 1;
            next - 1
        };
        *slot = char::from_u32(cp).expect("code points below 0x200 are chars");
    }
    table
}

/// Step 2: NFC, then each character lower-cased on its own (as the
/// `tokenizers` library's `Lowercase` normaliser does).
pub fn normalize(text: &str) -> String {
    text.nfc().flat_map(char::to_lowercase).collect()
}

impl Tokenizer {
    /// Build a tokenizer from a vocabulary (symbol → id) and ranked merges
    /// (earlier = merged first). `<|startoftext|>` and `<|endoftext|>` must
    /// be in the vocabulary.
    pub fn new(vocab: HashMap<String, u32>, merges: Vec<(String, String)>) -> Result<Self> {
        let id = |token: &str| {
            vocab
                .get(token)
                .copied()
                .ok_or_else(|| ClipError::MissingSpecialToken {
                    token: token.to_string(),
                })
        };
        let (bos, eos) = (id(BOS)?, id(EOS)?);
        let mut ranks = HashMap::with_capacity(merges.len());
        for (rank, pair) in merges.into_iter().enumerate() {
            // A repeated pair keeps its first (lowest) rank.
            ranks.entry(pair).or_insert(rank);
        }
        Ok(Self {
            vocab,
            ranks,
            byte_symbols: byte_symbols(),
            pattern: Regex::new(PATTERN).expect("the CLIP pattern is a valid regex"),
            bos,
            eos,
        })
    }

    /// Load from a model directory: `vocab.json` + `merges.txt` when both
    /// are there, else the `model` section of `tokenizer.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let (vocab_path, merges_path) = (dir.join("vocab.json"), dir.join("merges.txt"));
        if vocab_path.is_file() && merges_path.is_file() {
            let vocab = read_vocab(&vocab_path, &read_json(&vocab_path, "a JSON vocabulary")?)?;
            let text = std::fs::read_to_string(&merges_path).map_err(|source| ClipError::Io {
                path: merges_path.clone(),
                source,
            })?;
            let merges = parse_merges_txt(&merges_path, &text)?;
            return Self::new(vocab, merges);
        }
        let json_path = dir.join("tokenizer.json");
        if json_path.is_file() {
            let doc = read_json(&json_path, "a Hugging Face tokenizer.json")?;
            let model = doc.get("model").ok_or_else(|| ClipError::Config {
                path: json_path.clone(),
                field: "model".into(),
                reason: "missing; expected the BPE model with vocab and merges".into(),
            })?;
            let vocab = read_vocab(
                &json_path,
                model.get("vocab").ok_or_else(|| ClipError::Config {
                    path: json_path.clone(),
                    field: "model.vocab".into(),
                    reason: "missing; expected an object token → id".into(),
                })?,
            )?;
            let merges = parse_merges_json(
                &json_path,
                model.get("merges").ok_or_else(|| ClipError::Config {
                    path: json_path.clone(),
                    field: "model.merges".into(),
                    reason: "missing; expected a list of merges".into(),
                })?,
            )?;
            return Self::new(vocab, merges);
        }
        let missing = if vocab_path.is_file() {
            merges_path
        } else {
            vocab_path
        };
        Err(ClipError::MissingFile {
            path: missing,
            expected: "the BPE tokenizer: vocab.json and merges.txt, or tokenizer.json".into(),
        })
    }

    /// Id of `<|startoftext|>`.
    pub fn bos_id(&self) -> u32 {
        self.bos
    }

    /// Id of `<|endoftext|>`.
    pub fn eos_id(&self) -> u32 {
        self.eos
    }

    /// Number of entries in the vocabulary.
    pub fn vocab_len(&self) -> usize {
        self.vocab.len()
    }

    /// The BPE pieces of one pre-tokenised word (already byte-mapped).
    fn bpe(&self, word: &str) -> Vec<String> {
        let mut symbols: Vec<String> = word.chars().map(String::from).collect();
        match symbols.last_mut() {
            Some(last) => last.push_str(END_OF_WORD),
            None => return symbols,
        }
        while symbols.len() > 1 {
            let best = symbols
                .windows(2)
                .filter_map(|w| self.ranks.get(&(w[0].clone(), w[1].clone())))
                .min();
            let Some(&rank) = best else { break };
            let mut merged = Vec::with_capacity(symbols.len());
            let mut i = 0;
            while i < symbols.len() {
                if i + 1 < symbols.len()
                    && self
                        .ranks
                        .get(&(symbols[i].clone(), symbols[i + 1].clone()))
                        == Some(&rank)
                {
                    merged.push(format!("{}{}", symbols[i], symbols[i + 1]));
                    i += 2;
                } else {
                    merged.push(std::mem::take(&mut symbols[i]));
                    i += 1;
                }
            }
            symbols = merged;
        }
        symbols
    }

    /// The ids of the text's pieces, without the start and end markers
    /// added around the whole text.
    pub fn encode_pieces(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        let mut rest = text;
        loop {
            let next = [
                (rest.find(BOS), BOS, self.bos),
                (rest.find(EOS), EOS, self.eos),
            ]
            .into_iter()
            .filter_map(|(at, s, id)| at.map(|at| (at, s, id)))
            .min_by_key(|&(at, _, _)| at);
            let (segment, special) = match next {
                Some((at, s, id)) => (&rest[..at], Some((s.len() + at, id))),
                None => (rest, None),
            };
            self.encode_segment(segment, text, &mut ids)?;
            match special {
                Some((end, id)) => {
                    ids.push(id);
                    rest = &rest[end..];
                }
                None => return Ok(ids),
            }
        }
    }

    /// Steps 2–5 for text without literal special tokens.
    fn encode_segment(&self, segment: &str, text: &str, ids: &mut Vec<u32>) -> Result<()> {
        let normalized = normalize(segment);
        for m in self.pattern.find_iter(&normalized) {
            let piece = m.as_str();
            let mapped: String = piece
                .bytes()
                .map(|b| self.byte_symbols[b as usize])
                .collect();
            for token in self.bpe(&mapped) {
                let id = self
                    .vocab
                    .get(&token)
                    .ok_or_else(|| ClipError::UnknownToken {
                        token: token.clone(),
                        text: text.to_string(),
                    })?;
                ids.push(*id);
            }
        }
        Ok(())
    }

    /// `<|startoftext|>`, the text's ids, `<|endoftext|>` — untruncated.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = vec![self.bos];
        ids.extend(self.encode_pieces(text)?);
        ids.push(self.eos);
        Ok(ids)
    }

    /// As [`encode`](Self::encode), but keeping at most `max_len - 2` text
    /// ids so that the result, markers included, fits `max_len` (Hugging
    /// Face's `truncation=True, max_length=max_len`). `max_len` below 2 is
    /// treated as 2.
    pub fn encode_truncated(&self, text: &str, max_len: usize) -> Result<Vec<u32>> {
        let mut pieces = self.encode_pieces(text)?;
        pieces.truncate(max_len.max(2) - 2);
        let mut ids = Vec::with_capacity(pieces.len() + 2);
        ids.push(self.bos);
        ids.extend(pieces);
        ids.push(self.eos);
        Ok(ids)
    }
}

fn read_vocab(path: &Path, value: &Value) -> Result<HashMap<String, u32>> {
    let map = value.as_object().ok_or_else(|| ClipError::Config {
        path: path.to_path_buf(),
        field: "vocab".into(),
        reason: "expected an object token → id".into(),
    })?;
    map.iter()
        .map(|(token, id)| {
            let id = id
                .as_u64()
                .filter(|&n| n <= u32::MAX as u64)
                .ok_or_else(|| ClipError::Config {
                    path: path.to_path_buf(),
                    field: format!("vocab[{token:?}]"),
                    reason: format!("{id} is not a token id"),
                })?;
            Ok((token.clone(), id as u32))
        })
        .collect()
}

/// `merges.txt`: an optional `#version` header, then one `left right` pair
/// per line, highest priority first.
fn parse_merges_txt(path: &Path, text: &str) -> Result<Vec<(String, String)>> {
    let mut merges = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if (i == 0 && line.starts_with("#version")) || line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty() => {
                merges.push((a.to_string(), b.to_string()))
            }
            _ => {
                return Err(ClipError::Merges {
                    path: path.to_path_buf(),
                    line: i + 1,
                    reason: format!("{line:?} is not two symbols separated by one space"),
                })
            }
        }
    }
    Ok(merges)
}

/// `tokenizer.json`'s `model.merges`: strings `"left right"` or pairs
/// `["left", "right"]`.
fn parse_merges_json(path: &Path, value: &Value) -> Result<Vec<(String, String)>> {
    let list = value.as_array().ok_or_else(|| ClipError::Config {
        path: path.to_path_buf(),
        field: "model.merges".into(),
        reason: "expected a list".into(),
    })?;
    list.iter()
        .enumerate()
        .map(|(i, entry)| {
            let bad = || ClipError::Merges {
                path: path.to_path_buf(),
                line: i + 1,
                reason: format!("{entry} is neither \"left right\" nor [\"left\", \"right\"]"),
            };
            match entry {
                Value::String(s) => {
                    let (a, b) = s.split_once(' ').ok_or_else(bad)?;
                    if a.is_empty() || b.is_empty() || b.contains(' ') {
                        return Err(bad());
                    }
                    Ok((a.to_string(), b.to_string()))
                }
                Value::Array(pair) if pair.len() == 2 => match (&pair[0], &pair[1]) {
                    (Value::String(a), Value::String(b)) => Ok((a.clone(), b.clone())),
                    _ => Err(bad()),
                },
                _ => Err(bad()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_a_bijection_onto_printable_chars() {
        let t = byte_symbols();
        assert_eq!(t[b'a' as usize], 'a');
        assert_eq!(t[b' ' as usize], 'Ġ'); // U+0120, GPT-2's famous space
        assert_eq!(t[0], 'Ā');
        let mut seen: Vec<char> = t.to_vec();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 256);
        assert!(t.iter().all(|c| !c.is_whitespace() && !c.is_control()));
    }

    #[test]
    fn normalize_composes_and_lowercases_per_character() {
        assert_eq!(normalize("Hello\tWORLD"), "hello\tworld");
        assert_eq!(normalize("cafe\u{301}"), "café");
        assert_eq!(normalize("ΟΔΟΣ"), "οδοσ");
    }

    fn toy() -> Tokenizer {
        let mut vocab = HashMap::new();
        for (i, s) in ["a", "b", "a</w>", "b</w>", "ab</w>", "ab", BOS, EOS]
            .iter()
            .enumerate()
        {
            vocab.insert(s.to_string(), i as u32);
        }
        let merges = vec![("a".into(), "b</w>".into()), ("a".into(), "b".into())];
        Tokenizer::new(vocab, merges).unwrap()
    }

    #[test]
    fn bpe_merges_by_rank_and_marks_word_ends() {
        let t = toy();
        assert_eq!(t.bpe("ab"), vec!["ab</w>"]);
        assert_eq!(t.bpe("abab"), vec!["ab", "ab</w>"]);
        assert_eq!(t.bpe("ba"), vec!["b", "a</w>"]);
        assert_eq!(t.encode("AB ab").unwrap(), vec![6, 4, 4, 7]);
        assert_eq!(t.encode_truncated("ab ab ab", 3).unwrap(), vec![6, 4, 7]);
        // Literal markers map to their ids; case matters.
        assert_eq!(t.encode("ab<|endoftext|>b").unwrap(), vec![6, 4, 7, 3, 7]);
    }

    #[test]
    fn unknown_pieces_are_errors() {
        let err = toy().encode("c").unwrap_err();
        assert!(
            matches!(err, ClipError::UnknownToken { ref token, .. } if token == "c</w>"),
            "{err}"
        );
    }

    #[test]
    fn merges_files_parse_and_reject_bad_lines() {
        let p = Path::new("merges.txt");
        let m = parse_merges_txt(p, "#version: 0.2\na b\nab c</w>\n").unwrap();
        assert_eq!(
            m,
            vec![("a".into(), "b".into()), ("ab".into(), "c</w>".into())]
        );
        let e = parse_merges_txt(p, "#version: 0.2\na b c\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let j: Value = serde_json::json!(["a b", ["ab", "c"]]);
        assert_eq!(parse_merges_json(p, &j).unwrap().len(), 2);
        assert!(parse_merges_json(p, &serde_json::json!(["ab"])).is_err());
    }
}
