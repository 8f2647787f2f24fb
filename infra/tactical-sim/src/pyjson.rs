//! Python `json.loads(strict=False)` / `json.dumps()` equivalents that keep key order.
//!
//! Tactical re-serialises a rendered webhook body with Python's `json.dumps` (`", "` and `": "`
//! separators, `ensure_ascii=True`, insertion order kept); this module reproduces that byte for
//! byte without enabling serde_json's `preserve_order` for the whole workspace.

#[derive(Clone, Debug, PartialEq)]
pub enum PyVal {
    Null,
    Bool(bool),
    /// Integer literal text (Python ints are unbounded).
    Int(String),
    Float(f64),
    Str(String),
    List(Vec<PyVal>),
    /// Insertion-ordered dict.
    Dict(Vec<(String, PyVal)>),
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at char {}", self.i))
    }

    fn lit(&mut self, l: &str) -> bool {
        if self.src[self.i..].starts_with(l) {
            self.i += l.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<PyVal, String> {
        if self.i >= self.s.len() {
            return self.err("Expecting value");
        }
        let c = self.s[self.i];
        match c {
            b'{' => return self.dict(),
            b'[' => return self.list(),
            b'"' => return Ok(PyVal::Str(self.string()?)),
            _ => {}
        }
        for (lit, v) in [
            ("null", PyVal::Null),
            ("true", PyVal::Bool(true)),
            ("false", PyVal::Bool(false)),
            ("NaN", PyVal::Float(f64::NAN)),
            ("Infinity", PyVal::Float(f64::INFINITY)),
            ("-Infinity", PyVal::Float(f64::NEG_INFINITY)),
        ] {
            if self.lit(lit) {
                return Ok(v);
            }
        }
        match c {
            b'-' | b'0'..=b'9' => self.number(),
            _ => self.err("Expecting value"),
        }
    }

    fn number(&mut self) -> Result<PyVal, String> {
        let start = self.i;
        if self.s[self.i] == b'-' {
            self.i += 1;
        }
        let int_start = self.i;
        match self.s.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while matches!(self.s.get(self.i), Some(b'0'..=b'9')) {
                    self.i += 1;
                }
            }
            _ => {
                self.i = start;
                return self.err("Expecting value");
            }
        }
        let _ = int_start;
        let mut is_float = false;
        if self.s.get(self.i) == Some(&b'.') && matches!(self.s.get(self.i + 1), Some(b'0'..=b'9')) {
            is_float = true;
            self.i += 1;
            while matches!(self.s.get(self.i), Some(b'0'..=b'9')) {
                self.i += 1;
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            let save = self.i;
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if matches!(self.s.get(self.i), Some(b'0'..=b'9')) {
                is_float = true;
                while matches!(self.s.get(self.i), Some(b'0'..=b'9')) {
                    self.i += 1;
                }
            } else {
                self.i = save;
            }
        }
        let text = &self.src[start..self.i];
        if is_float {
            Ok(PyVal::Float(text.parse::<f64>().map_err(|e| e.to_string())?))
        } else if text == "-0" {
            Ok(PyVal::Int("0".into()))
        } else {
            Ok(PyVal::Int(text.to_string()))
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self.src.get(self.i..self.i + 4).ok_or("Invalid \\uXXXX escape")?;
        let v = u32::from_str_radix(h, 16).map_err(|_| "Invalid \\uXXXX escape".to_string())?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            // copy a run of plain characters
            let run_start = self.i;
            while self.i < self.s.len() && self.s[self.i] != b'"' && self.s[self.i] != b'\\' {
                self.i += 1;
            }
            out.push_str(&self.src[run_start..self.i]);
            match self.s.get(self.i) {
                None => return self.err("Unterminated string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(_) => {
                    self.i += 1;
                    let Some(&e) = self.s.get(self.i) else {
                        return self.err("Unterminated string");
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let mut c = self.hex4()?;
                            if (0xD800..0xDC00).contains(&c) && self.src[self.i..].starts_with("\\u") {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                                } else {
                                    self.i = save;
                                }
                            }
                            out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                        }
                        _ => {
                            self.i -= 2;
                            return self.err("Invalid \\escape");
                        }
                    }
                }
            }
        }
    }

    fn list(&mut self) -> Result<PyVal, String> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(PyVal::List(items));
        }
        loop {
            self.ws();
            items.push(self.value()?);
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(PyVal::List(items));
                }
                _ => return self.err("Expecting ',' delimiter"),
            }
        }
    }

    fn dict(&mut self) -> Result<PyVal, String> {
        self.i += 1;
        let mut items: Vec<(String, PyVal)> = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(PyVal::Dict(items));
        }
        loop {
            self.ws();
            if self.s.get(self.i) != Some(&b'"') {
                return self.err("Expecting property name enclosed in double quotes");
            }
            let k = self.string()?;
            self.ws();
            if self.s.get(self.i) != Some(&b':') {
                return self.err("Expecting ':' delimiter");
            }
            self.i += 1;
            self.ws();
            let v = self.value()?;
            // Python dict semantics: a repeated key keeps its first position, takes the last value.
            if let Some(slot) = items.iter_mut().find(|(ek, _)| *ek == k) {
                slot.1 = v;
            } else {
                items.push((k, v));
            }
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(PyVal::Dict(items));
                }
                _ => return self.err("Expecting ',' delimiter"),
            }
        }
    }
}

/// `json.loads(s, strict=False)`.
pub fn loads(s: &str) -> Result<PyVal, String> {
    let mut p = Parser { s: s.as_bytes(), src: s, i: 0 };
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return p.err("Extra data");
    }
    Ok(v)
}

/// `json.dumps(s)` of a Python str (ensure_ascii).
pub fn dumps_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_str(&mut out, s);
    out
}

fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Python `repr(float)`.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let e = format!("{f:e}"); // shortest round-trip digits, e.g. "-1.2345e6"
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let decpt = exp + 1;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if decpt <= -4 || decpt > 16 {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
    } else if decpt <= 0 {
        out.push_str("0.");
        out.push_str(&"0".repeat((-decpt) as usize));
        out.push_str(&digits);
    } else if decpt as usize >= digits.len() {
        out.push_str(&digits);
        out.push_str(&"0".repeat(decpt as usize - digits.len()));
        out.push_str(".0");
    } else {
        out.push_str(&digits[..decpt as usize]);
        out.push('.');
        out.push_str(&digits[decpt as usize..]);
    }
    out
}

/// `json.dumps(v)` with Python's default separators and `ensure_ascii=True`.
pub fn dumps(v: &PyVal) -> String {
    let mut out = String::new();
    dump_into(&mut out, v);
    out
}

fn dump_into(out: &mut String, v: &PyVal) {
    match v {
        PyVal::Null => out.push_str("null"),
        PyVal::Bool(true) => out.push_str("true"),
        PyVal::Bool(false) => out.push_str("false"),
        PyVal::Int(t) => out.push_str(t),
        PyVal::Float(f) => out.push_str(&float_repr(*f)),
        PyVal::Str(s) => push_str(out, s),
        PyVal::List(items) => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump_into(out, it);
            }
            out.push(']');
        }
        PyVal::Dict(items) => {
            out.push('{');
            for (i, (k, it)) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_str(out, k);
                out.push_str(": ");
                dump_into(out, it);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_python_style() {
        let v = loads("{\"b\":1,\"a\":[true,null,1.5,\"x\\u00e9\"],\n \"c\":{}}").unwrap();
        assert_eq!(dumps(&v), "{\"b\": 1, \"a\": [true, null, 1.5, \"x\\u00e9\"], \"c\": {}}");
    }

    #[test]
    fn strict_false_allows_control_chars() {
        let v = loads("{\"m\": \"a\nb\"}").unwrap();
        assert_eq!(dumps(&v), "{\"m\": \"a\\nb\"}");
    }

    #[test]
    fn invalid() {
        assert!(loads("{\"m\": \"a \"b\" c\"}").is_err());
        assert!(loads("{\"a\":1,}").is_err());
        assert!(loads("plain").is_err());
        assert!(loads("1 2").is_err());
    }

    #[test]
    fn floats() {
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(1e15), "1000000000000000.0");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(0.00001), "1e-05");
        assert_eq!(float_repr(1793639623.584222), "1793639623.584222");
        assert_eq!(float_repr(-0.0), "-0.0");
        assert_eq!(float_repr(2.5), "2.5");
    }

    #[test]
    fn duplicate_keys_keep_first_position() {
        let v = loads("{\"a\":1,\"b\":2,\"a\":3}").unwrap();
        assert_eq!(dumps(&v), "{\"a\": 3, \"b\": 2}");
    }

    #[test]
    fn astral_escape() {
        assert_eq!(dumps_str("😀\u{7f}"), "\"\\ud83d\\ude00\\u007f\"");
    }
}
