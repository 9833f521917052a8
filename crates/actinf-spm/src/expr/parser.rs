//! Recursive-descent parser for SPM's MATLAB expression subset.
//!
//! Precedence, loosest first, as MATLAB defines it:
//!
//! 1. range `a:b`, `a:s:b` (only where MATLAB allows it unparenthesised:
//!    the whole expression, an index argument, a matrix element);
//! 2. `+ -` (binary), left-associative;
//! 3. `* / .* ./`, left-associative;
//! 4. unary `-` and `+` (so `-2^2` is `-(2^2)` and `-a*b` is `(-a)*b`);
//! 5. `^ .^` and the transposes `' .'`, left-associative and left to right
//!    (`a^b'` is `(a^b)'`; `2^-1` is allowed, the exponent taking its own
//!    unary signs);
//! 6. indexing or calls `a(…)` and fields `P.name`.
//!
//! Inside `[...]` (but not inside parentheses nested in it) whitespace
//! separates elements, with MATLAB's rule for signs: a `+` or `-` that
//! follows an operand, has whitespace before it and none after it starts a
//! new element (`[-1 -x(1)]` has two elements; `[a - b]`, `[a-b]` and
//! `[a- b]` have one). Likewise an operand that follows another after
//! whitespace starts a new element (`[x(1) x(2)]`), and `a (1)` inside
//! brackets is two elements, not an index.

use super::error::ExprError;
use super::lexer::{Tok, Token};

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    /// `*`
    MatMul,
    /// `.*`
    ElMul,
    /// `/`
    MatDiv,
    /// `./`
    ElDiv,
    /// `^`
    MatPow,
    /// `.^`
    ElPow,
}

impl BinOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::MatMul => "*",
            BinOp::ElMul => ".*",
            BinOp::MatDiv => "/",
            BinOp::ElDiv => "./",
            BinOp::MatPow => "^",
            BinOp::ElPow => ".^",
        }
    }
}

/// A node of the syntax tree, with the 0-based character position of the
/// token that names it (an operator's own position for operators).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub kind: NodeKind,
    pub pos: usize,
}

/// What a node is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeKind {
    Num(f64),
    /// A bare name: a variable, a constant, a function or `end`.
    Name(String),
    /// `target.name`; the node's position is the field name's.
    Field(Box<Node>, String),
    /// `target(args)`: an index or a call, settled when compiling.
    Apply(Box<Node>, Vec<Node>),
    /// A bare `:` as an index argument.
    Colon,
    /// Unary minus.
    Neg(Box<Node>),
    Binary(BinOp, Box<Node>, Box<Node>),
    Transpose(Box<Node>),
    /// `start:stop` or `start:step:stop`.
    Range(Box<Node>, Option<Box<Node>>, Box<Node>),
    /// `[...]`: rows of elements, each with the position where it starts
    /// (empty rows dropped).
    Matrix(Vec<Vec<(usize, Node)>>),
}

/// A parsed expression: nothing (the empty text, SPM's "no output") or a tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Parsed {
    Empty,
    Expr(Node),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Paren,
    Bracket,
}

/// The longest expression read, in tokens (SPM's are a few dozen).
pub(crate) const MAX_TOKENS: usize = 4096;

/// The deepest nesting read (parentheses, brackets, signs, operators): it
/// bounds the recursion of parsing and compiling, so no text can exhaust
/// the stack.
pub(crate) const MAX_DEPTH: usize = 200;

/// Parses a token list. `text_len` (in characters) positions end-of-text errors.
pub(crate) fn parse(tokens: &[Token], text_len: usize) -> Result<Parsed, ExprError> {
    if let Some(token) = tokens.get(MAX_TOKENS) {
        return Err(ExprError::Unsupported {
            what: format!("expression longer than {MAX_TOKENS} tokens"),
            pos: token.pos,
        });
    }
    check_balance(tokens)?;
    if tokens.is_empty() {
        return Ok(Parsed::Empty);
    }
    let mut parser = Parser {
        tokens,
        i: 0,
        contexts: Vec::new(),
        text_len,
        depth: 0,
    };
    let node = parser.expr()?;
    check_depth(&node)?;
    let mut first_separator = None;
    while let Some(token) = parser.peek().filter(|t| t.tok == Tok::Semicolon) {
        first_separator.get_or_insert(token.pos);
        parser.i += 1;
    }
    if let Some(token) = parser.peek() {
        let separator = first_separator.or((token.tok == Tok::Comma).then_some(token.pos));
        return Err(match separator {
            Some(pos) => ExprError::Unsupported {
                what: "more than one statement".into(),
                pos,
            },
            None => ExprError::UnexpectedToken {
                token: token.text.clone(),
                pos: token.pos,
                expected: "an operator or the end of the expression",
            },
        });
    }
    Ok(Parsed::Expr(node))
}

fn too_deep(pos: usize) -> ExprError {
    ExprError::Unsupported {
        what: format!("nesting deeper than {MAX_DEPTH} levels"),
        pos,
    }
}

/// Refuses a tree deeper than [`MAX_DEPTH`] (a long chain of binary
/// operators is parsed by a loop but makes a deep tree), without recursion.
fn check_depth<'a>(root: &'a Node) -> Result<(), ExprError> {
    let mut stack: Vec<(&'a Node, usize)> = vec![(root, 1)];
    while let Some((node, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(too_deep(node.pos));
        }
        let mut push = |child: &'a Node| stack.push((child, depth + 1));
        match &node.kind {
            NodeKind::Num(_) | NodeKind::Name(_) | NodeKind::Colon => {}
            NodeKind::Field(target, _) | NodeKind::Neg(target) | NodeKind::Transpose(target) => {
                push(target)
            }
            NodeKind::Apply(target, args) => {
                push(target);
                args.iter().for_each(push);
            }
            NodeKind::Binary(_, lhs, rhs) => {
                push(lhs);
                push(rhs);
            }
            NodeKind::Range(start, step, stop) => {
                push(start);
                if let Some(step) = step {
                    push(step);
                }
                push(stop);
            }
            NodeKind::Matrix(rows) => rows.iter().flatten().for_each(|(_, element)| push(element)),
        }
    }
    Ok(())
}

/// Reports the first unclosed or stray bracket before parsing, so that an
/// unbalanced bracket is named as such rather than as whatever follows it.
fn check_balance(tokens: &[Token]) -> Result<(), ExprError> {
    let mut stack: Vec<&Token> = Vec::new();
    for token in tokens {
        match token.tok {
            Tok::LParen | Tok::LBracket => stack.push(token),
            Tok::RParen | Tok::RBracket => {
                let wanted = if token.tok == Tok::RParen {
                    Tok::LParen
                } else {
                    Tok::LBracket
                };
                match stack.pop() {
                    Some(open) if open.tok == wanted => {}
                    Some(open) => {
                        return Err(ExprError::UnexpectedToken {
                            token: token.text.clone(),
                            pos: token.pos,
                            expected: if open.tok == Tok::LParen {
                                "`)`"
                            } else {
                                "`]`"
                            },
                        })
                    }
                    None => {
                        return Err(ExprError::UnexpectedToken {
                            token: token.text.clone(),
                            pos: token.pos,
                            expected: "no closing bracket without an opening one",
                        })
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(open) = stack.pop() {
        let (open_ch, close) = if open.tok == Tok::LParen {
            ('(', ')')
        } else {
            ('[', ']')
        };
        return Err(ExprError::Unclosed {
            open: open_ch,
            close,
            pos: open.pos,
        });
    }
    Ok(())
}

struct Parser<'a> {
    tokens: &'a [Token],
    i: usize,
    contexts: Vec<Context>,
    text_len: usize,
    /// Current recursion depth of `expr`, `unary` and `power_operand`.
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a Token> {
        self.tokens.get(self.i)
    }

    fn peek_is(&self, tok: &Tok) -> bool {
        self.peek().is_some_and(|t| &t.tok == tok)
    }

    fn in_brackets(&self) -> bool {
        self.contexts.last() == Some(&Context::Bracket)
    }

    fn next_or_end(&mut self, expected: &'static str) -> Result<&'a Token, ExprError> {
        match self.tokens.get(self.i) {
            Some(token) => {
                self.i += 1;
                Ok(token)
            }
            None => Err(ExprError::UnexpectedEnd {
                pos: self.text_len,
                expected,
            }),
        }
    }

    fn unexpected(&self, token: &Token, expected: &'static str) -> ExprError {
        ExprError::UnexpectedToken {
            token: token.text.clone(),
            pos: token.pos,
            expected,
        }
    }

    /// Runs `f` one recursion level deeper, refusing to go past [`MAX_DEPTH`].
    fn deeper(&mut self, f: fn(&mut Self) -> Result<Node, ExprError>) -> Result<Node, ExprError> {
        if self.depth >= MAX_DEPTH {
            let pos = self.peek().map_or(self.text_len, |t| t.pos);
            return Err(too_deep(pos));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    /// Range level.
    fn expr(&mut self) -> Result<Node, ExprError> {
        self.deeper(Self::range)
    }

    fn range(&mut self) -> Result<Node, ExprError> {
        let start = self.additive()?;
        if let Some(colon) = self.peek().filter(|t| t.tok == Tok::Colon) {
            self.i += 1;
            let second = self.additive()?;
            if self.peek_is(&Tok::Colon) {
                self.i += 1;
                let stop = self.additive()?;
                return Ok(Node {
                    kind: NodeKind::Range(Box::new(start), Some(Box::new(second)), Box::new(stop)),
                    pos: colon.pos,
                });
            }
            return Ok(Node {
                kind: NodeKind::Range(Box::new(start), None, Box::new(second)),
                pos: colon.pos,
            });
        }
        Ok(start)
    }

    fn additive(&mut self) -> Result<Node, ExprError> {
        let mut lhs = self.multiplicative()?;
        while let Some(token) = self.peek() {
            let op = match token.tok {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => break,
            };
            if self.in_brackets() && token.space_before {
                let space_after = self.tokens.get(self.i + 1).is_some_and(|t| t.space_before);
                if !space_after {
                    // `[a -b]`: the sign starts the next element
                    break;
                }
            }
            self.i += 1;
            let rhs = self.multiplicative()?;
            lhs = Node {
                kind: NodeKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                pos: token.pos,
            };
        }
        Ok(lhs)
    }

    fn multiplicative(&mut self) -> Result<Node, ExprError> {
        let mut lhs = self.unary()?;
        while let Some(token) = self.peek() {
            let op = match token.tok {
                Tok::Star => BinOp::MatMul,
                Tok::DotStar => BinOp::ElMul,
                Tok::Slash => BinOp::MatDiv,
                Tok::DotSlash => BinOp::ElDiv,
                _ => break,
            };
            self.i += 1;
            let rhs = self.unary()?;
            lhs = Node {
                kind: NodeKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                pos: token.pos,
            };
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        if let Some(token) = self.peek() {
            match token.tok {
                Tok::Minus => {
                    self.i += 1;
                    let operand = self.deeper(Self::unary)?;
                    return Ok(Node {
                        kind: NodeKind::Neg(Box::new(operand)),
                        pos: token.pos,
                    });
                }
                Tok::Plus => {
                    self.i += 1;
                    return self.deeper(Self::unary);
                }
                _ => {}
            }
        }
        self.power()
    }

    fn power(&mut self) -> Result<Node, ExprError> {
        let mut lhs = self.postfix()?;
        while let Some(token) = self.peek() {
            match token.tok {
                Tok::Quote | Tok::DotQuote => {
                    self.i += 1;
                    lhs = Node {
                        kind: NodeKind::Transpose(Box::new(lhs)),
                        pos: token.pos,
                    };
                }
                Tok::Caret | Tok::DotCaret => {
                    self.i += 1;
                    let op = if token.tok == Tok::Caret {
                        BinOp::MatPow
                    } else {
                        BinOp::ElPow
                    };
                    let rhs = self.power_operand()?;
                    lhs = Node {
                        kind: NodeKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                        pos: token.pos,
                    };
                }
                _ => break,
            }
        }
        Ok(lhs)
    }

    /// The right operand of `^`: its own unary signs, then an operand.
    fn power_operand(&mut self) -> Result<Node, ExprError> {
        if let Some(token) = self.peek() {
            match token.tok {
                Tok::Minus => {
                    self.i += 1;
                    let operand = self.deeper(Self::power_operand)?;
                    return Ok(Node {
                        kind: NodeKind::Neg(Box::new(operand)),
                        pos: token.pos,
                    });
                }
                Tok::Plus => {
                    self.i += 1;
                    return self.deeper(Self::power_operand);
                }
                _ => {}
            }
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Node, ExprError> {
        let mut node = self.primary()?;
        while let Some(token) = self.peek() {
            match token.tok {
                Tok::LParen if !(self.in_brackets() && token.space_before) => {
                    self.i += 1;
                    let args = self.arguments()?;
                    node = Node {
                        pos: node.pos,
                        kind: NodeKind::Apply(Box::new(node), args),
                    };
                }
                Tok::Dot => {
                    self.i += 1;
                    let name = self.next_or_end("a field name after `.`")?;
                    match &name.tok {
                        Tok::Ident(field) => {
                            node = Node {
                                kind: NodeKind::Field(Box::new(node), field.clone()),
                                pos: name.pos,
                            }
                        }
                        _ => return Err(self.unexpected(name, "a field name after `.`")),
                    }
                }
                _ => break,
            }
        }
        Ok(node)
    }

    /// Arguments after `(`, up to and including `)`.
    fn arguments(&mut self) -> Result<Vec<Node>, ExprError> {
        self.contexts.push(Context::Paren);
        let mut args = Vec::new();
        if self.peek_is(&Tok::RParen) {
            self.i += 1;
            self.contexts.pop();
            return Ok(args);
        }
        loop {
            let token = self.peek();
            let bare_colon = token.is_some_and(|t| t.tok == Tok::Colon)
                && self
                    .tokens
                    .get(self.i + 1)
                    .is_some_and(|t| matches!(t.tok, Tok::Comma | Tok::RParen));
            if bare_colon {
                let colon = self.next_or_end("an argument")?;
                args.push(Node {
                    kind: NodeKind::Colon,
                    pos: colon.pos,
                });
            } else {
                args.push(self.expr()?);
            }
            let sep = self.next_or_end("`,` or `)`")?;
            match sep.tok {
                Tok::Comma => continue,
                Tok::RParen => break,
                _ => return Err(self.unexpected(sep, "`,` or `)`")),
            }
        }
        self.contexts.pop();
        Ok(args)
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        let token = self.next_or_end("an operand")?;
        match &token.tok {
            Tok::Num(value) => Ok(Node {
                kind: NodeKind::Num(*value),
                pos: token.pos,
            }),
            Tok::Ident(name) => Ok(Node {
                kind: NodeKind::Name(name.clone()),
                pos: token.pos,
            }),
            Tok::LParen => {
                self.contexts.push(Context::Paren);
                let inner = self.expr()?;
                let close = self.next_or_end("`)`")?;
                if close.tok != Tok::RParen {
                    return Err(self.unexpected(close, "`)`"));
                }
                self.contexts.pop();
                Ok(inner)
            }
            Tok::LBracket => self.matrix(token.pos),
            _ => Err(self.unexpected(token, "an operand")),
        }
    }

    /// A matrix literal after `[`, up to and including `]`.
    fn matrix(&mut self, pos: usize) -> Result<Node, ExprError> {
        self.contexts.push(Context::Bracket);
        let mut rows: Vec<Vec<(usize, Node)>> = vec![Vec::new()];
        // whether the last thing read was an element (so a separator may follow)
        let mut after_element = false;
        loop {
            let token = match self.peek() {
                Some(token) => token,
                None => {
                    return Err(ExprError::Unclosed {
                        open: '[',
                        close: ']',
                        pos,
                    })
                }
            };
            match token.tok {
                Tok::RBracket => {
                    self.i += 1;
                    break;
                }
                Tok::Semicolon => {
                    self.i += 1;
                    rows.push(Vec::new());
                    after_element = false;
                }
                Tok::Comma => {
                    if !after_element {
                        return Err(self.unexpected(token, "a matrix element before `,`"));
                    }
                    self.i += 1;
                    after_element = false;
                }
                _ => {
                    if after_element && !token.space_before {
                        return Err(
                            self.unexpected(token, "`,`, `;`, `]` or whitespace between elements")
                        );
                    }
                    let start = token.pos;
                    let element = self.expr()?;
                    rows.last_mut()
                        .expect("rows is never empty")
                        .push((start, element));
                    after_element = true;
                }
            }
        }
        self.contexts.pop();
        rows.retain(|row| !row.is_empty());
        Ok(Node {
            kind: NodeKind::Matrix(rows),
            pos,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokenize;
    use super::*;

    fn parse_text(text: &str) -> Result<Parsed, ExprError> {
        let tokens = tokenize(text)?;
        parse(&tokens, text.chars().count())
    }

    fn row_lengths(text: &str) -> Vec<usize> {
        match parse_text(text).unwrap() {
            Parsed::Expr(Node {
                kind: NodeKind::Matrix(rows),
                ..
            }) => rows.iter().map(Vec::len).collect(),
            other => panic!("not a matrix: {other:?}"),
        }
    }

    #[test]
    fn whitespace_separates_elements_by_matlab_rule() {
        assert_eq!(row_lengths("[-1 -x(1)]"), vec![2]);
        assert_eq!(row_lengths("[a - b]"), vec![1]);
        assert_eq!(row_lengths("[a -b]"), vec![2]);
        assert_eq!(row_lengths("[a- b]"), vec![1]);
        assert_eq!(row_lengths("[a-b]"), vec![1]);
        assert_eq!(row_lengths("[a (1)]"), vec![2]);
        assert_eq!(row_lengths("[(a -b)]"), vec![1]);
        assert_eq!(row_lengths("[x(1) x(2)]"), vec![2]);
        assert_eq!(row_lengths("[1, 2, 3; 4 5 6;]"), vec![3, 3]);
        assert_eq!(row_lengths("[x' -1]"), vec![2]);
        assert_eq!(row_lengths("[x' - 1]"), vec![1]);
        assert_eq!(row_lengths("[]"), Vec::<usize>::new());
    }

    #[test]
    fn unary_minus_binds_looser_than_power() {
        let parsed = parse_text("-2^2").unwrap();
        match parsed {
            Parsed::Expr(Node {
                kind: NodeKind::Neg(inner),
                ..
            }) => assert!(matches!(inner.kind, NodeKind::Binary(BinOp::MatPow, _, _))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_text_and_trailing_semicolon() {
        assert_eq!(parse_text("").unwrap(), Parsed::Empty);
        assert_eq!(parse_text("   ").unwrap(), Parsed::Empty);
        assert!(matches!(parse_text("x;").unwrap(), Parsed::Expr(_)));
    }

    #[test]
    fn unbalanced_brackets_are_named() {
        assert_eq!(
            parse_text("sum(x"),
            Err(ExprError::Unclosed {
                open: '(',
                close: ')',
                pos: 3
            })
        );
        assert_eq!(
            parse_text("[x(1) x(2)"),
            Err(ExprError::Unclosed {
                open: '[',
                close: ']',
                pos: 0
            })
        );
        assert!(matches!(
            parse_text("x)"),
            Err(ExprError::UnexpectedToken { pos: 1, .. })
        ));
        assert!(matches!(
            parse_text("(x]"),
            Err(ExprError::UnexpectedToken { pos: 2, .. })
        ));
    }

    #[test]
    fn several_statements_are_refused() {
        assert_eq!(
            parse_text("x; v"),
            Err(ExprError::Unsupported {
                what: "more than one statement".into(),
                pos: 1
            })
        );
    }
}
