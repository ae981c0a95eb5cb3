//! Sigma conditions: `and`, `or`, `not`, parentheses, `1 of X*`, `all of X*`, `them`.
//! Precedence, tightest first: `not`, `and`, `or`.

/// A condition over selections, by index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Sel(usize),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

impl Expr {
    pub fn eval<F: Fn(usize) -> bool>(&self, sel: &F) -> bool {
        match self {
            Self::Sel(i) => sel(*i),
            Self::Not(e) => !e.eval(sel),
            Self::And(es) => es.iter().all(|e| e.eval(sel)),
            Self::Or(es) => es.iter().any(|e| e.eval(sel)),
        }
    }

    /// Selections that must all match for the expression to hold (used to index rules
    /// by event kind). Conservative: anything under `not` or `or` is left out.
    pub fn required(&self) -> Vec<usize> {
        match self {
            Self::Sel(i) => vec![*i],
            Self::And(es) => es.iter().flat_map(Expr::required).collect(),
            _ => Vec::new(),
        }
    }

    /// For an `or`: its branches; otherwise itself.
    pub fn branches(&self) -> Vec<&Expr> {
        match self {
            Self::Or(es) => es.iter().collect(),
            other => vec![other],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Open,
    Close,
}

fn tokenize(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in s.chars() {
        match c {
            '(' | ')' | ' ' | '\t' | '\n' | '\r' => {
                if !word.is_empty() {
                    out.push(Tok::Word(std::mem::take(&mut word)));
                }
                match c {
                    '(' => out.push(Tok::Open),
                    ')' => out.push(Tok::Close),
                    _ => {}
                }
            }
            other => word.push(other),
        }
    }
    if !word.is_empty() {
        out.push(Tok::Word(word));
    }
    out
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    names: &'a [&'a str],
}

/// Parses a condition; `names` are the detection's search identifiers, in order.
pub fn parse(text: &str, names: &[&str]) -> Result<Expr, String> {
    let mut p = Parser { toks: tokenize(text), pos: 0, names };
    if p.toks.is_empty() {
        return Err("empty condition".into());
    }
    let e = p.or()?;
    match p.toks.get(p.pos) {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {} after a complete condition", show(t))),
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("'{w}'"),
        Tok::Open => "'('".into(),
        Tok::Close => "')'".into(),
    }
}

fn is_word(t: Option<&Tok>, w: &str) -> bool {
    matches!(t, Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.and()?];
        while is_word(self.peek(), "or") {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 { parts.pop().expect("one") } else { Expr::Or(parts) })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.not()?];
        while is_word(self.peek(), "and") {
            self.pos += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 { parts.pop().expect("one") } else { Expr::And(parts) })
    }

    fn not(&mut self) -> Result<Expr, String> {
        if is_word(self.peek(), "not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let tok = self.peek().cloned().ok_or("the condition ends where a selection was expected")?;
        self.pos += 1;
        match tok {
            Tok::Open => {
                let e = self.or()?;
                match self.peek() {
                    Some(Tok::Close) => {
                        self.pos += 1;
                        Ok(e)
                    }
                    _ => Err("'(' is not closed".into()),
                }
            }
            Tok::Close => Err("unexpected ')'".into()),
            Tok::Word(w) => {
                let quantifier = if w == "1" || w.eq_ignore_ascii_case("any") {
                    Some(false)
                } else if w.eq_ignore_ascii_case("all") {
                    Some(true)
                } else {
                    None
                };
                if let Some(all) = quantifier {
                    if !is_word(self.peek(), "of") {
                        return Err(format!("'{w}' must be followed by 'of'"));
                    }
                    self.pos += 1;
                    let target = match self.peek() {
                        Some(Tok::Word(t)) => t.clone(),
                        _ => return Err(format!("'{w} of' needs 'them' or a name pattern")),
                    };
                    self.pos += 1;
                    let picked = self.matching(&target)?;
                    let sels: Vec<Expr> = picked.into_iter().map(Expr::Sel).collect();
                    return Ok(if all { Expr::And(sels) } else { Expr::Or(sels) });
                }
                if ["and", "or", "of", "them"].iter().any(|k| w.eq_ignore_ascii_case(k)) {
                    return Err(format!("'{w}' where a selection was expected"));
                }
                self.names
                    .iter()
                    .position(|n| *n == w)
                    .map(Expr::Sel)
                    .ok_or_else(|| format!("no selection named '{w}' in this detection"))
            }
        }
    }

    /// Selections named by `them` (all but those starting with `_`) or a `*` pattern.
    fn matching(&self, target: &str) -> Result<Vec<usize>, String> {
        let picked: Vec<usize> = if target == "them" {
            (0..self.names.len()).filter(|&i| !self.names[i].starts_with('_')).collect()
        } else {
            (0..self.names.len()).filter(|&i| glob(target, self.names[i])).collect()
        };
        if picked.is_empty() {
            return Err(format!("'{target}' names no selection in this detection"));
        }
        Ok(picked)
    }
}

/// `*` matches any run of characters; everything else is literal.
fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: &[&str] = &["sel_a", "sel_b", "filter", "_private"];

    #[test]
    fn not_binds_tighter_than_and_which_binds_tighter_than_or() {
        let e = parse("sel_a or not sel_b and filter", NAMES).unwrap();
        assert_eq!(
            e,
            Expr::Or(vec![Expr::Sel(0), Expr::And(vec![Expr::Not(Box::new(Expr::Sel(1))), Expr::Sel(2)])])
        );
    }

    #[test]
    fn quantifiers_expand_patterns_and_them_skips_underscored_names() {
        assert_eq!(parse("1 of sel_*", NAMES).unwrap(), Expr::Or(vec![Expr::Sel(0), Expr::Sel(1)]));
        assert_eq!(
            parse("all of them", NAMES).unwrap(),
            Expr::And(vec![Expr::Sel(0), Expr::Sel(1), Expr::Sel(2)])
        );
    }

    #[test]
    fn mistakes_are_named() {
        assert!(parse("sel_a and", NAMES).unwrap_err().contains("ends"));
        assert!(parse("(sel_a", NAMES).unwrap_err().contains("not closed"));
        assert!(parse("sel_c", NAMES).unwrap_err().contains("no selection named 'sel_c'"));
        assert!(parse("1 of x*", NAMES).unwrap_err().contains("names no selection"));
        assert!(parse("sel_a sel_b", NAMES).unwrap_err().contains("unexpected 'sel_b'"));
    }
}
