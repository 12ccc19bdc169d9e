//! Pattern text → syntax tree → backtracking program.

use super::unicode::{other_case, property, SPACE_BIT, WORD};
use super::{Assert, Class, Inst, MAX_INSTS};
use crate::error::{Error, Result};

/// Parsed pattern.
#[derive(Clone, Debug)]
enum Node {
    Empty,
    Char(char, bool),
    Class(Class),
    Any,
    Seq(Vec<Node>),
    Alt(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
        greedy: bool,
        possessive: bool,
    },
    Look(Box<Node>, bool),
    Assert(Assert),
}

impl Node {
    /// Whether the node can match without consuming a char.
    fn nullable(&self) -> bool {
        match self {
            Node::Empty | Node::Look(..) | Node::Assert(_) => true,
            Node::Char(..) | Node::Class(_) | Node::Any => false,
            Node::Seq(v) => v.iter().all(Node::nullable),
            Node::Alt(v) => v.iter().any(Node::nullable),
            Node::Repeat { node, min, .. } => *min == 0 || node.nullable(),
        }
    }
}

fn err(pattern: &str, what: impl std::fmt::Display) -> Error {
    Error::Tokenizer(format!("regex {pattern:?}: {what}"))
}

struct Parser<'p> {
    pattern: &'p str,
    chars: Vec<char>,
    pos: usize,
    fold: bool,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn next(&mut self) -> Result<char> {
        let c = self
            .peek()
            .ok_or_else(|| err(self.pattern, "ends too early"))?;
        self.pos += 1;
        Ok(c)
    }

    fn alt(&mut self) -> Result<Node> {
        let saved = self.fold;
        let mut alts = vec![self.seq()?];
        while self.eat('|') {
            alts.push(self.seq()?);
        }
        self.fold = saved;
        Ok(if alts.len() == 1 {
            alts.pop().expect("one")
        } else {
            Node::Alt(alts)
        })
    }

    fn seq(&mut self) -> Result<Node> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            items.push(self.quantified(atom)?);
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().expect("one"),
            _ => Node::Seq(items),
        })
    }

    fn quantified(&mut self, mut atom: Node) -> Result<Node> {
        loop {
            let start = self.pos;
            let (min, max) = match self.peek() {
                Some('?') => (0, Some(1)),
                Some('*') => (0, None),
                Some('+') => (1, None),
                Some('{') => match self.counted()? {
                    Some(mm) => mm,
                    None => return Ok(atom),
                },
                _ => return Ok(atom),
            };
            if self.pos == start {
                self.pos += 1;
            }
            let (greedy, possessive) = if self.eat('?') {
                (false, false)
            } else if self.eat('+') {
                (true, true)
            } else {
                (true, false)
            };
            if max.is_none() && atom.nullable() {
                return Err(err(
                    self.pattern,
                    "an unbounded repeat of something that can match nothing",
                ));
            }
            atom = Node::Repeat {
                node: Box::new(atom),
                min,
                max,
                greedy,
                possessive,
            };
        }
    }

    /// `{n}`, `{n,}`, `{n,m}` (consumed), or `None` when the `{` is a literal.
    fn counted(&mut self) -> Result<Option<(u32, Option<u32>)>> {
        let start = self.pos;
        self.pos += 1;
        let num = |p: &mut Self| {
            let s = p.pos;
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.pos += 1;
            }
            let text: String = p.chars[s..p.pos].iter().collect();
            text.parse::<u32>().ok()
        };
        let Some(min) = num(self) else {
            self.pos = start;
            return Ok(None);
        };
        let max = if self.eat(',') { num(self) } else { Some(min) };
        if !self.eat('}') {
            self.pos = start;
            return Ok(None);
        }
        if max.is_some_and(|m| m < min) || min > 1000 || max.is_some_and(|m| m > 1000) {
            return Err(err(
                self.pattern,
                format!("bad repeat count {{{min},{max:?}}}"),
            ));
        }
        Ok(Some((min, max)))
    }

    fn atom(&mut self) -> Result<Node> {
        let c = self.next()?;
        Ok(match c {
            '(' => {
                let node = if self.eat('?') {
                    match self.next()? {
                        ':' => self.alt()?,
                        '=' => Node::Look(Box::new(self.alt()?), false),
                        '!' => Node::Look(Box::new(self.alt()?), true),
                        'i' => {
                            if self.eat(')') {
                                // `(?i)`: the rest of the enclosing group ignores case.
                                self.fold = true;
                                return Ok(Node::Empty);
                            }
                            if !self.eat(':') {
                                return Err(err(self.pattern, "unsupported group flags"));
                            }
                            let saved = self.fold;
                            self.fold = true;
                            let n = self.alt()?;
                            self.fold = saved;
                            n
                        }
                        '<' if matches!(self.peek(), Some('=' | '!')) => {
                            return Err(err(self.pattern, "look-behind is not supported"))
                        }
                        '<' => {
                            // A named group: skip the name.
                            while self.next()? != '>' {}
                            self.alt()?
                        }
                        other => {
                            return Err(err(self.pattern, format!("unsupported group '(?{other}'")))
                        }
                    }
                } else {
                    self.alt()?
                };
                if !self.eat(')') {
                    return Err(err(self.pattern, "unclosed group"));
                }
                node
            }
            ')' => return Err(err(self.pattern, "unmatched ')'")),
            '[' => Node::Class(self.class()?),
            '.' => Node::Any,
            '^' => Node::Assert(Assert::LineStart),
            '$' => Node::Assert(Assert::LineEnd),
            '\\' => self.escape()?,
            c => Node::Char(c, self.fold && other_case(c).is_some()),
        })
    }

    /// After a backslash outside a class.
    fn escape(&mut self) -> Result<Node> {
        let c = self.next()?;
        Ok(match c {
            'A' => Node::Assert(Assert::TextStart),
            'z' => Node::Assert(Assert::TextEnd),
            'Z' => Node::Assert(Assert::TextEndNewline),
            'b' => Node::Assert(Assert::WordBoundary),
            'B' => Node::Assert(Assert::NotWordBoundary),
            _ => {
                self.pos -= 1;
                match self.class_escape()? {
                    Ok(ch) => Node::Char(ch, self.fold && other_case(ch).is_some()),
                    Err(class) => Node::Class(class),
                }
            }
        })
    }

    /// After a backslash: a literal char, or a class (`\s`, `\p{L}`, ...).
    fn class_escape(&mut self) -> Result<std::result::Result<char, Class>> {
        let c = self.next()?;
        let cats = |cats: u32, negated: bool| {
            Err(Class {
                cats,
                negated,
                ..Class::default()
            })
        };
        Ok(match c {
            'n' => Ok('\n'),
            'r' => Ok('\r'),
            't' => Ok('\t'),
            'f' => Ok('\x0C'),
            'v' => Ok('\x0B'),
            'a' => Ok('\x07'),
            'e' => Ok('\x1B'),
            '0' => Ok('\0'),
            's' => cats(SPACE_BIT, false),
            'S' => cats(SPACE_BIT, true),
            'd' => cats(1 << 8, false),
            'D' => cats(1 << 8, true),
            'w' => cats(WORD, false),
            'W' => cats(WORD, true),
            'p' | 'P' => {
                let negated = c == 'P';
                let name: String = if self.eat('{') {
                    let mut s = String::new();
                    loop {
                        match self.next()? {
                            '}' => break,
                            ch => s.push(ch),
                        }
                    }
                    s
                } else {
                    self.next()?.to_string()
                };
                let (name, negated) = match name.strip_prefix('^') {
                    Some(n) => (n.to_string(), !negated),
                    None => (name, negated),
                };
                cats(
                    property(&name).ok_or_else(|| {
                        err(self.pattern, format!("unknown property \\p{{{name}}}"))
                    })?,
                    negated,
                )
            }
            'x' | 'u' => {
                let braced = c == 'x' && self.eat('{');
                let mut hex = String::new();
                let want = if c == 'u' { 4 } else { 2 };
                while braced || hex.len() < want {
                    let h = self.next()?;
                    if braced && h == '}' {
                        break;
                    }
                    hex.push(h);
                }
                let ch = u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| err(self.pattern, format!("bad escape \\{c}{hex}")))?;
                Ok(ch)
            }
            c if c.is_ascii_alphanumeric() => {
                return Err(err(self.pattern, format!("unsupported escape \\{c}")))
            }
            c => Ok(c),
        })
    }

    /// After `[`: the class up to its `]`.
    fn class(&mut self) -> Result<Class> {
        let mut class = Class {
            negated: self.eat('^'),
            fold: self.fold,
            ..Class::default()
        };
        let mut first = true;
        loop {
            let c = self.next()?;
            match c {
                ']' if !first => break,
                '[' => class.nested.push(self.class()?),
                '&' if self.eat('&') => {
                    // Everything after `&&` up to the closing `]` is one operand.
                    let mut rest = Class {
                        fold: self.fold,
                        ..Class::default()
                    };
                    self.class_items(&mut rest)?;
                    class.and.push(rest);
                    break;
                }
                _ => {
                    self.pos -= 1;
                    self.class_item(&mut class)?;
                }
            }
            first = false;
        }
        Ok(class)
    }

    /// Items of a class up to and including its `]`.
    fn class_items(&mut self, class: &mut Class) -> Result<()> {
        loop {
            match self.peek() {
                Some(']') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some('[') => {
                    self.pos += 1;
                    class.nested.push(self.class()?);
                }
                Some(_) => self.class_item(class)?,
                None => return Err(err(self.pattern, "unclosed class")),
            }
        }
    }

    /// One char, range or escape inside a class.
    fn class_item(&mut self, class: &mut Class) -> Result<()> {
        let lo = match self.next()? {
            '\\' => match self.class_escape()? {
                Ok(c) => c,
                Err(sub) => {
                    if sub.negated {
                        class.nested.push(sub);
                    } else {
                        class.cats |= sub.cats;
                    }
                    return Ok(());
                }
            },
            c => c,
        };
        if self.peek() == Some('-') && !matches!(self.chars.get(self.pos + 1), Some(']') | None) {
            self.pos += 1;
            let hi = match self.next()? {
                '\\' => match self.class_escape()? {
                    Ok(c) => c,
                    Err(_) => return Err(err(self.pattern, "a class in a range")),
                },
                c => c,
            };
            if hi < lo {
                return Err(err(
                    self.pattern,
                    format!("range {lo:?}-{hi:?} is reversed"),
                ));
            }
            class.ranges.push((lo, hi));
        } else {
            class.ranges.push((lo, lo));
        }
        Ok(())
    }
}

struct Compiler<'p> {
    pattern: &'p str,
    insts: Vec<Inst>,
    classes: Vec<Class>,
}

impl Compiler<'_> {
    fn push(&mut self, i: Inst) -> Result<u32> {
        if self.insts.len() >= MAX_INSTS {
            return Err(err(self.pattern, "is too large once compiled"));
        }
        self.insts.push(i);
        Ok(self.insts.len() as u32 - 1)
    }

    fn here(&self) -> u32 {
        self.insts.len() as u32
    }

    fn node(&mut self, n: &Node) -> Result<()> {
        match n {
            Node::Empty => {}
            &Node::Char(c, fold) => {
                self.push(if fold {
                    Inst::CharFold(c)
                } else {
                    Inst::Char(c)
                })?;
            }
            Node::Class(c) => {
                self.classes.push(c.clone());
                self.push(Inst::Class(self.classes.len() as u32 - 1))?;
            }
            Node::Any => {
                self.push(Inst::Any)?;
            }
            Node::Assert(a) => {
                self.push(Inst::Assert(*a))?;
            }
            Node::Seq(v) => {
                for x in v {
                    self.node(x)?;
                }
            }
            Node::Alt(v) => {
                let mut jumps = Vec::new();
                for (i, x) in v.iter().enumerate() {
                    if i + 1 < v.len() {
                        let split = self.push(Inst::Split(0, 0))?;
                        self.node(x)?;
                        jumps.push(self.push(Inst::Jmp(0))?);
                        let next = self.here();
                        self.insts[split as usize] = Inst::Split(split + 1, next);
                    } else {
                        self.node(x)?;
                    }
                }
                let end = self.here();
                for j in jumps {
                    self.insts[j as usize] = Inst::Jmp(end);
                }
            }
            Node::Look(x, negate) => {
                let at = self.push(Inst::Look {
                    negate: *negate,
                    next: 0,
                })?;
                self.node(x)?;
                self.push(Inst::Match)?;
                let next = self.here();
                self.insts[at as usize] = Inst::Look {
                    negate: *negate,
                    next,
                };
            }
            Node::Repeat {
                node,
                min,
                max,
                greedy,
                possessive,
            } => {
                if *possessive {
                    let at = self.push(Inst::Atomic { next: 0 })?;
                    self.repeat(node, *min, *max, true)?;
                    self.push(Inst::Match)?;
                    let next = self.here();
                    self.insts[at as usize] = Inst::Atomic { next };
                } else {
                    self.repeat(node, *min, *max, *greedy)?;
                }
            }
        }
        Ok(())
    }

    fn repeat(&mut self, node: &Node, min: u32, max: Option<u32>, greedy: bool) -> Result<()> {
        for _ in 0..min {
            self.node(node)?;
        }
        let split = |me: &mut Self, at: u32, body: u32, out: u32| {
            me.insts[at as usize] = if greedy {
                Inst::Split(body, out)
            } else {
                Inst::Split(out, body)
            };
        };
        match max {
            None => {
                // L: Split(body, out); body; Jmp L; out:
                let at = self.push(Inst::Split(0, 0))?;
                self.node(node)?;
                self.push(Inst::Jmp(at))?;
                let out = self.here();
                split(self, at, at + 1, out);
            }
            Some(max) => {
                // Each optional copy may be skipped, and skipping one skips the rest.
                let mut splits = Vec::new();
                for _ in min..max {
                    splits.push(self.push(Inst::Split(0, 0))?);
                    self.node(node)?;
                }
                let out = self.here();
                for at in splits {
                    split(self, at, at + 1, out);
                }
            }
        }
        Ok(())
    }
}

/// The program (ending in `Match`) and classes of a pattern.
pub(super) fn compile(pattern: &str) -> Result<(Vec<Inst>, Vec<Class>)> {
    let mut p = Parser {
        pattern,
        chars: pattern.chars().collect(),
        pos: 0,
        fold: false,
    };
    let node = p.alt()?;
    if p.pos != p.chars.len() {
        return Err(err(pattern, "unmatched ')'"));
    }
    let mut c = Compiler {
        pattern,
        insts: Vec::new(),
        classes: Vec::new(),
    };
    c.node(&node)?;
    c.push(Inst::Match)?;
    Ok((c.insts, c.classes))
}
