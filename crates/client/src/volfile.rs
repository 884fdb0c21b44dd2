//! Client volfile parser (PROTOCOL.md 8.1).
//!
//! Grammar: `volume NAME` / `type CATEGORY/NAME` / `option KEY VALUE` /
//! `subvolumes NAME...` / `end-volume`. A word is a run of characters other
//! than whitespace, `"` and `\`, or a double-quoted string in which `\x`
//! stands for `x`. `#` starts a comment only where a word would start.
//! Backticks are ordinary characters: unlike upstream we never run a
//! preprocessor over the text.

use std::fmt;

/// One `volume ... end-volume` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub xl_type: String,
    pub options: Vec<(String, String)>,
    pub subvolumes: Vec<String>,
    /// Line of the `volume` keyword, for error messages.
    pub line: usize,
}

impl Section {
    /// An option's value. Keys match case-insensitively, as upstream.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed volfile: sections in file order; the last one is the top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volfile {
    pub sections: Vec<Section>,
}

/// A syntax or structure error, with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("volfile line {line}: {msg}")]
pub struct ParseError {
    pub line: usize,
    pub msg: String,
}

impl Volfile {
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The top of the graph (the last section).
    pub fn top(&self) -> Option<&Section> {
        self.sections.last()
    }

    pub fn parse(text: &str) -> Result<Volfile, ParseError> {
        let tokens = lex(text)?;
        let mut it = tokens.into_iter().peekable();
        let mut sections: Vec<Section> = Vec::new();
        let err = |line, msg: String| Err(ParseError { line, msg });
        while let Some(tok) = it.next() {
            if tok.text != "volume" || tok.quoted {
                return err(tok.line, format!("expected 'volume', found '{}'", tok.text));
            }
            let Some(name) = it.next() else {
                return err(tok.line, "'volume' without a name".into());
            };
            if sections.iter().any(|s| s.name == name.text) {
                return err(name.line, format!("volume '{}' defined twice", name.text));
            }
            let mut sec = Section {
                name: name.text,
                xl_type: String::new(),
                options: Vec::new(),
                subvolumes: Vec::new(),
                line: tok.line,
            };
            loop {
                let Some(kw) = it.next() else {
                    return err(
                        sec.line,
                        format!("volume '{}' has no 'end-volume'", sec.name),
                    );
                };
                match (kw.text.as_str(), kw.quoted) {
                    ("end-volume", false) => break,
                    ("type", false) => {
                        let Some(t) = it.next() else {
                            return err(kw.line, "'type' without a value".into());
                        };
                        sec.xl_type = t.text;
                    }
                    ("option", false) => {
                        let (Some(k), Some(v)) = (it.next(), it.next()) else {
                            return err(kw.line, "'option' needs a key and a value".into());
                        };
                        if v.line != k.line && !v.quoted && is_keyword(&v.text) {
                            return err(k.line, format!("option '{}' has no value", k.text));
                        }
                        sec.options.push((k.text, v.text));
                    }
                    ("subvolumes", false) => {
                        while let Some(next) = it.peek() {
                            if next.line != kw.line || (!next.quoted && is_keyword(&next.text)) {
                                break;
                            }
                            let Some(sub) = it.next() else { break };
                            if !sections.iter().any(|s| s.name == sub.text) {
                                return err(
                                    sub.line,
                                    format!(
                                        "volume '{}' uses subvolume '{}' before it is defined",
                                        sec.name, sub.text
                                    ),
                                );
                            }
                            sec.subvolumes.push(sub.text);
                        }
                        if sec.subvolumes.is_empty() {
                            return err(kw.line, "'subvolumes' without names".into());
                        }
                    }
                    (other, _) => {
                        return err(
                            kw.line,
                            format!("unexpected '{other}' in volume '{}'", sec.name),
                        )
                    }
                }
            }
            if sec.xl_type.is_empty() {
                return err(sec.line, format!("volume '{}' has no type", sec.name));
            }
            sections.push(sec);
        }
        if sections.is_empty() {
            return err(1, "no volume sections".into());
        }
        Ok(Volfile { sections })
    }
}

fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "volume" | "type" | "option" | "subvolumes" | "end-volume"
    )
}

struct Token {
    text: String,
    line: usize,
    quoted: bool,
}

fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(&c) = chars.peek() {
        match c {
            '\n' => {
                line += 1;
                chars.next();
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' => {
                while let Some(&c) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    chars.next();
                }
            }
            '"' => {
                chars.next();
                let start = line;
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None | Some('\n') => {
                            return Err(ParseError {
                                line: start,
                                msg: "unterminated quoted string".into(),
                            })
                        }
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x) if x != '\n' => s.push(x),
                            _ => {
                                return Err(ParseError {
                                    line: start,
                                    msg: "backslash at end of line in quoted string".into(),
                                })
                            }
                        },
                        Some(x) => s.push(x),
                    }
                }
                out.push(Token {
                    text: s,
                    line: start,
                    quoted: true,
                });
            }
            '\\' => {
                return Err(ParseError {
                    line,
                    msg: "backslash outside a quoted string".into(),
                })
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '"' || c == '\\' {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                out.push(Token {
                    text: s,
                    line,
                    quoted: false,
                });
            }
        }
    }
    Ok(out)
}

impl fmt::Display for Volfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.sections {
            writeln!(f, "volume {}", s.name)?;
            writeln!(f, "    type {}", s.xl_type)?;
            for (k, v) in &s.options {
                writeln!(f, "    option {k} {v}")?;
            }
            if !s.subvolumes.is_empty() {
                writeln!(f, "    subvolumes {}", s.subvolumes.join(" "))?;
            }
            writeln!(f, "end-volume\n")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn comments_and_quotes() {
        let v = Volfile::parse(
            "# header\nvolume a\n  type protocol/client\n  option k a#b\n  option q \"x y\\\"z\" # tail\nend-volume\n",
        )
        .unwrap();
        let a = &v.sections[0];
        assert_eq!(a.option("k"), Some("a#b"));
        assert_eq!(a.option("Q"), Some("x y\"z"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = Volfile::parse("volume a\n type x/y\n subvolumes b\nend-volume\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.msg.contains("before it is defined"), "{e}");
        let e = Volfile::parse("volume a\n type x/y\n").unwrap_err();
        assert!(e.msg.contains("end-volume"));
        let e = Volfile::parse("volume a\n option k\nend-volume").unwrap_err();
        assert!(e.to_string().starts_with("volfile line 2"), "{e}");
        assert!(Volfile::parse("").is_err());
        assert!(Volfile::parse("volume a\n option k `true`\n type t/t\nend-volume").is_ok());
    }

    proptest! {
        #[test]
        fn never_panics(s in "[ -~\n\"\\\\#]{0,200}") {
            let _ = Volfile::parse(&s);
        }
    }
}
