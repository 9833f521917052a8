//! Tokens of SPM's MATLAB expression subset.
//!
//! MATLAB's grammar is whitespace-sensitive inside `[...]`, so every token
//! records whether whitespace precedes it; the parser decides what that means.
//! The one lexical ambiguity settled here is the quote: `'` directly after an
//! operand (a name, a number, `)`, `]` or another transpose) with no
//! whitespace in between is the transpose operator; anywhere else it would
//! open a character string, which the subset does not have.

use super::error::ExprError;

/// A token's kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A real number.
    Num(f64),
    /// A name (variable, function, field or keyword `end`).
    Ident(String),
    Plus,
    Minus,
    Star,
    DotStar,
    Slash,
    DotSlash,
    Caret,
    DotCaret,
    /// `'`, the (conjugate) transpose.
    Quote,
    /// `.'`, the transpose.
    DotQuote,
    /// `.` before a field name.
    Dot,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    /// `;` or a line break.
    Semicolon,
    Colon,
}

/// A token with its place in the text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    /// 0-based character offset of its first character.
    pub pos: usize,
    /// Its text, for error messages.
    pub text: String,
    /// Whether whitespace (spaces or tabs) comes right before it.
    pub space_before: bool,
}

impl Token {
    /// Whether this token ends an operand, so that a `'` right after it is a
    /// transpose.
    fn ends_operand(&self) -> bool {
        matches!(
            self.tok,
            Tok::Num(_) | Tok::Ident(_) | Tok::RParen | Tok::RBracket | Tok::Quote | Tok::DotQuote
        )
    }
}

/// Splits `text` into tokens. Positions are 0-based character offsets.
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens: Vec<Token> = Vec::new();
    let mut i = 0;
    let mut space_before = false;
    while i < chars.len() {
        let c = chars[i];
        if c == ' ' || c == '\t' {
            space_before = true;
            i += 1;
            continue;
        }
        let start = i;
        let next = chars.get(i + 1).copied();
        let tok = match c {
            '0'..='9' => {
                let (value, end) = lex_number(&chars, i)?;
                i = end;
                Tok::Num(value)
            }
            '.' if next.is_some_and(|n| n.is_ascii_digit()) => {
                let (value, end) = lex_number(&chars, i)?;
                i = end;
                Tok::Num(value)
            }
            c if c.is_ascii_alphabetic() => {
                let mut end = i + 1;
                while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_')
                {
                    end += 1;
                }
                let name: String = chars[i..end].iter().collect();
                i = end;
                Tok::Ident(name)
            }
            '.' => {
                let (tok, len) = match next {
                    Some('*') => (Tok::DotStar, 2),
                    Some('/') => (Tok::DotSlash, 2),
                    Some('^') => (Tok::DotCaret, 2),
                    Some('\'') => (Tok::DotQuote, 2),
                    Some('.') => {
                        return Err(ExprError::Unsupported {
                            what: "line continuation `...`".into(),
                            pos: i,
                        })
                    }
                    Some('\\') => {
                        return Err(ExprError::Unsupported {
                            what: "left division `.\\`".into(),
                            pos: i,
                        })
                    }
                    _ => (Tok::Dot, 1),
                };
                i += len;
                tok
            }
            '\'' => {
                let after_operand =
                    !space_before && tokens.last().is_some_and(|t: &Token| t.ends_operand());
                if !after_operand {
                    return Err(ExprError::Unsupported {
                        what: "character string".into(),
                        pos: i,
                    });
                }
                i += 1;
                Tok::Quote
            }
            '+' => single(&mut i, Tok::Plus),
            '-' => single(&mut i, Tok::Minus),
            '*' => single(&mut i, Tok::Star),
            '/' => single(&mut i, Tok::Slash),
            '^' => single(&mut i, Tok::Caret),
            '(' => single(&mut i, Tok::LParen),
            ')' => single(&mut i, Tok::RParen),
            '[' => single(&mut i, Tok::LBracket),
            ']' => single(&mut i, Tok::RBracket),
            ',' => single(&mut i, Tok::Comma),
            ';' | '\n' => single(&mut i, Tok::Semicolon),
            '\r' => {
                // part of a line break; the `\n` that follows (if any) counts
                space_before = true;
                i += 1;
                continue;
            }
            ':' => single(&mut i, Tok::Colon),
            '%' => {
                return Err(ExprError::Unsupported {
                    what: "comment `%`".into(),
                    pos: i,
                })
            }
            '<' | '>' | '=' | '~' | '&' | '|' => {
                return Err(ExprError::Unsupported {
                    what: format!("operator `{c}`"),
                    pos: i,
                })
            }
            '\\' => {
                return Err(ExprError::Unsupported {
                    what: "left division `\\`".into(),
                    pos: i,
                })
            }
            _ => return Err(ExprError::BadCharacter { ch: c, pos: i }),
        };
        tokens.push(Token {
            tok,
            pos: start,
            text: chars[start..i].iter().collect(),
            space_before,
        });
        space_before = false;
    }
    Ok(tokens)
}

fn single(i: &mut usize, tok: Tok) -> Tok {
    *i += 1;
    tok
}

/// Reads a number starting at `start`: digits, an optional fraction and an
/// optional exponent (`1`, `1.5`, `.5`, `1.`, `1e-3`, `2E+4`). A dot that
/// begins an element-wise operator (`1.*x`) is left to the operator.
fn lex_number(chars: &[char], start: usize) -> Result<(f64, usize), ExprError> {
    let mut i = start;
    while i < chars.len() && chars[i].is_ascii_digit() {
        i += 1;
    }
    if i < chars.len() && chars[i] == '.' {
        let after = chars.get(i + 1).copied();
        let is_operator = matches!(
            after,
            Some('*') | Some('/') | Some('^') | Some('\'') | Some('\\')
        );
        if !is_operator {
            i += 1;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
        let mut j = i + 1;
        if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
            j += 1;
        }
        let digits_start = j;
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
        if j == digits_start {
            let text: String = chars[start..j].iter().collect();
            return Err(ExprError::BadNumber { text, pos: start });
        }
        i = j;
    }
    let text: String = chars[start..i].iter().collect();
    let value = text.parse::<f64>().map_err(|_| ExprError::BadNumber {
        text: text.clone(),
        pos: start,
    })?;
    if i < chars.len() && (chars[i].is_ascii_alphabetic() || chars[i] == '_') {
        // `2x` is not MATLAB
        return Err(ExprError::UnexpectedToken {
            token: chars[i].to_string(),
            pos: i,
            expected: "an operator after a number",
        });
    }
    Ok((value, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Tok> {
        tokenize(text).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn numbers_in_matlab_forms() {
        assert_eq!(kinds("1e-3"), vec![Tok::Num(1e-3)]);
        assert_eq!(kinds(".5"), vec![Tok::Num(0.5)]);
        assert_eq!(kinds("2."), vec![Tok::Num(2.0)]);
        assert_eq!(kinds("46.92"), vec![Tok::Num(46.92)]);
        assert_eq!(
            kinds("2.*x"),
            vec![Tok::Num(2.0), Tok::DotStar, Tok::Ident("x".into())]
        );
        assert_eq!(kinds("2.5E+2"), vec![Tok::Num(250.0)]);
    }

    #[test]
    fn quote_after_operand_is_transpose_else_string() {
        assert_eq!(kinds("x'"), vec![Tok::Ident("x".into()), Tok::Quote]);
        assert_eq!(kinds("x.'"), vec![Tok::Ident("x".into()), Tok::DotQuote]);
        assert_eq!(
            tokenize("x + 'a'"),
            Err(ExprError::Unsupported {
                what: "character string".into(),
                pos: 4
            })
        );
    }

    #[test]
    fn whitespace_and_positions_are_recorded() {
        let tokens = tokenize("[-1 -x(1)]").unwrap();
        let minus2 = &tokens[3];
        assert_eq!(minus2.tok, Tok::Minus);
        assert_eq!(minus2.pos, 4);
        assert!(minus2.space_before);
        assert!(!tokens[4].space_before);
    }

    #[test]
    fn bad_characters_and_numbers_are_refused() {
        assert_eq!(
            tokenize("x @ v"),
            Err(ExprError::BadCharacter { ch: '@', pos: 2 })
        );
        assert_eq!(
            tokenize("1e+"),
            Err(ExprError::BadNumber {
                text: "1e+".into(),
                pos: 0
            })
        );
        assert!(matches!(
            tokenize("x == v"),
            Err(ExprError::Unsupported { pos: 2, .. })
        ));
        assert!(matches!(
            tokenize("2x"),
            Err(ExprError::UnexpectedToken { pos: 1, .. })
        ));
    }
}
