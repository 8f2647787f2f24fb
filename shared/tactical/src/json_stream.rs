//! Splits a JSON array that arrives in chunks into its top-level elements, so a body of hundreds
//! of MB (`GET /software/` of a large fleet) is decoded one element at a time: memory stays
//! bounded by the largest element, never the whole body.
//!
//! The splitter only finds element boundaries (strings, escapes, nesting); each element is then
//! decoded, and so validated, by serde.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("the body is not a JSON array")]
    NotAnArray,
    #[error("one element is larger than {0} bytes")]
    ElementTooLarge(usize),
    #[error("unexpected data after the end of the array")]
    TrailingData,
    #[error("the body ended before the array was closed")]
    Truncated,
    #[error("the page has no results list within its first {0} bytes")]
    NoResults(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the opening `[`.
    Start,
    /// Between elements (after `[` or a `,`).
    Between,
    /// Inside an element that started at `start` in the buffer.
    Element { start: usize, kind: Kind },
    /// After the closing `]`.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Object or array: ends when the nesting depth returns to 0.
    Container,
    /// String: ends at its closing quote.
    Str,
    /// Number, `true`, `false`, `null`: ends at a delimiter.
    Scalar,
}

pub struct ArraySplitter {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned.
    pos: usize,
    state: State,
    depth: usize,
    in_string: bool,
    escaped: bool,
    max_element: usize,
    peak: usize,
    /// The array is the last value of an object: one `}` may follow it (then only whitespace).
    in_object: bool,
    object_closed: bool,
}

impl ArraySplitter {
    /// `max_element`: refuse an element larger than this (a broken or hostile body must not be
    /// able to grow the buffer without bound).
    pub fn new(max_element: usize) -> Self {
        Self {
            buf: Vec::new(),
            pos: 0,
            state: State::Start,
            depth: 0,
            in_string: false,
            escaped: false,
            max_element,
            peak: 0,
            in_object: false,
            object_closed: false,
        }
    }

    /// The most bytes the splitter held at once (for measurements).
    pub fn peak_buffer(&self) -> usize {
        self.peak
    }

    /// Feeds the next chunk; returns the raw JSON of every element it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Vec<u8>>, SplitError> {
        self.buf.extend_from_slice(chunk);
        self.peak = self.peak.max(self.buf.len());
        let mut out = Vec::new();
        while self.pos < self.buf.len() {
            let c = self.buf[self.pos];
            match self.state {
                State::Start => {
                    // Whitespace and a UTF-8 byte order mark may precede the array.
                    if c == b'[' {
                        self.state = State::Between;
                    } else if !is_ws(c) && !matches!(c, 0xEF | 0xBB | 0xBF) {
                        return Err(SplitError::NotAnArray);
                    }
                }
                State::Between => match c {
                    b']' => self.state = State::Done,
                    b',' => {}
                    c if is_ws(c) => {}
                    b'{' | b'[' => {
                        self.depth = 1;
                        self.state = State::Element { start: self.pos, kind: Kind::Container };
                    }
                    b'"' => {
                        self.in_string = true;
                        self.state = State::Element { start: self.pos, kind: Kind::Str };
                    }
                    _ => self.state = State::Element { start: self.pos, kind: Kind::Scalar },
                },
                State::Element { start, kind } => {
                    if self.in_string {
                        if self.escaped {
                            self.escaped = false;
                        } else if c == b'\\' {
                            self.escaped = true;
                        } else if c == b'"' {
                            self.in_string = false;
                            if kind == Kind::Str {
                                out.push(self.buf[start..=self.pos].to_vec());
                                self.state = State::Between;
                            }
                        }
                    } else {
                        match (kind, c) {
                            (Kind::Container, b'"') => self.in_string = true,
                            (Kind::Container, b'{' | b'[') => self.depth += 1,
                            (Kind::Container, b'}' | b']') => {
                                self.depth -= 1;
                                if self.depth == 0 {
                                    out.push(self.buf[start..=self.pos].to_vec());
                                    self.state = State::Between;
                                }
                            }
                            (Kind::Scalar, b',' | b']') => {
                                out.push(self.buf[start..self.pos].to_vec());
                                self.state = if c == b']' { State::Done } else { State::Between };
                            }
                            (Kind::Scalar, c) if is_ws(c) => {
                                out.push(self.buf[start..self.pos].to_vec());
                                self.state = State::Between;
                            }
                            _ => {}
                        }
                    }
                }
                State::Done => {
                    if self.in_object && !self.object_closed && c == b'}' {
                        self.object_closed = true;
                    } else if !is_ws(c) {
                        return Err(SplitError::TrailingData);
                    }
                }
            }
            self.pos += 1;
        }
        // Keep only the unfinished element.
        let keep_from = match self.state {
            State::Element { start, .. } => start,
            _ => self.buf.len(),
        };
        if keep_from > 0 {
            self.buf.drain(..keep_from);
            self.pos -= keep_from;
            if let State::Element { kind, .. } = self.state {
                self.state = State::Element { start: 0, kind };
            }
        }
        if self.buf.len() > self.max_element {
            return Err(SplitError::ElementTooLarge(self.max_element));
        }
        Ok(out)
    }

    /// After the last chunk: the array must have been closed.
    pub fn finish(&self) -> Result<(), SplitError> {
        match self.state {
            State::Done if self.in_object && !self.object_closed => Err(SplitError::Truncated),
            State::Done => Ok(()),
            State::Start => Err(SplitError::NotAnArray),
            _ => Err(SplitError::Truncated),
        }
    }
}

/// Splits a DRF page (`{"count": …, "next": …, "previous": …, "results": [...]}`, `results`
/// last as DRF writes it) as it arrives: the head before `results` is kept (bounded) and decoded
/// at the end, the rows come out one by one like [`ArraySplitter`]'s elements. A page of heavy
/// rows (a Windows agent's services and WMI, ~150 KB each) never sits whole in memory.
pub struct PageSplitter {
    head: Vec<u8>,
    max_head: usize,
    rows: ArraySplitter,
    /// Length of the head once `"results":` was found (the rest went to `rows`).
    head_len: Option<usize>,
}

impl PageSplitter {
    pub fn new(max_head: usize, max_row: usize) -> Self {
        let mut rows = ArraySplitter::new(max_row);
        rows.in_object = true;
        Self { head: Vec::new(), max_head, rows, head_len: None }
    }

    /// The most bytes held at once (head and the row being read).
    pub fn peak_buffer(&self) -> usize {
        self.head.len() + self.rows.peak_buffer()
    }

    /// Feeds the next chunk; returns the raw JSON of every row it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Vec<u8>>, SplitError> {
        if self.head_len.is_some() {
            return self.rows.push(chunk);
        }
        let scanned = self.head.len().saturating_sub(KEY.len() + 8);
        self.head.extend_from_slice(chunk);
        let Some(at) = find_results(&self.head, scanned) else {
            if self.head.len() > self.max_head {
                return Err(SplitError::NoResults(self.max_head));
            }
            return Ok(Vec::new());
        };
        let rest = self.head.split_off(at);
        self.head_len = Some(at);
        self.rows.push(&rest)
    }

    /// After the last chunk: the page was complete. Returns its head (`count`, `next`,
    /// `previous`) as JSON with an empty `results`.
    pub fn finish(&self) -> Result<Vec<u8>, SplitError> {
        if self.head_len.is_none() {
            return Err(SplitError::NoResults(self.max_head));
        }
        self.rows.finish()?;
        let mut head = self.head.clone();
        head.extend_from_slice(b"[]}");
        Ok(head)
    }
}

const KEY: &[u8] = b"\"results\"";

/// Where the `[` of `"results": [` starts, searching from `from`. A quote inside a JSON string
/// is escaped, so `"results"` followed by `:` is the key.
fn find_results(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + KEY.len() <= buf.len() {
        if &buf[i..i + KEY.len()] == KEY {
            let mut j = i + KEY.len();
            while j < buf.len() && is_ws(buf[j]) {
                j += 1;
            }
            if j < buf.len() && buf[j] == b':' {
                j += 1;
                while j < buf.len() && is_ws(buf[j]) {
                    j += 1;
                }
                if j < buf.len() && buf[j] == b'[' {
                    return Some(j);
                }
            }
        }
        i += 1;
    }
    None
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_in(body: &[u8], chunk: usize) -> Result<Vec<String>, SplitError> {
        let mut s = ArraySplitter::new(1 << 20);
        let mut out = Vec::new();
        for c in body.chunks(chunk.max(1)) {
            out.extend(s.push(c)?.into_iter().map(|e| String::from_utf8(e).unwrap()));
        }
        s.finish()?;
        Ok(out)
    }

    #[test]
    fn splits_elements_whatever_the_chunking() {
        let body = br#" [ {"a":"x]}\"{","b":[1,{"c":[]}]}, "s,]\\", 12 ,true,null,[1,[2]],{} ] "#;
        let want = vec![r#"{"a":"x]}\"{","b":[1,{"c":[]}]}"#, r#""s,]\\""#, "12", "true", "null", "[1,[2]]", "{}"];
        for chunk in [1, 2, 3, 7, 64, 4096] {
            assert_eq!(split_in(body, chunk).unwrap(), want, "chunk size {chunk}");
        }
    }

    #[test]
    fn empty_array_and_trailing_scalar() {
        assert!(split_in(b"[]", 1).unwrap().is_empty());
        assert!(split_in(b"\xEF\xBB\xBF[ ]\n", 1).unwrap().is_empty());
        assert_eq!(split_in(b"[1]", 1).unwrap(), vec!["1"]);
    }

    #[test]
    fn refuses_what_is_not_a_closed_array() {
        assert_eq!(split_in(br#"{"a":1}"#, 3), Err(SplitError::NotAnArray));
        assert_eq!(split_in(b"", 3), Err(SplitError::NotAnArray));
        assert_eq!(split_in(br#"[{"a":1},{"b""#, 3), Err(SplitError::Truncated));
        assert_eq!(split_in(b"[1] x", 3), Err(SplitError::TrailingData));
    }

    fn page_in(body: &[u8], chunk: usize) -> Result<(serde_json::Value, Vec<String>), SplitError> {
        let mut s = PageSplitter::new(128, 1 << 20);
        let mut rows = Vec::new();
        for c in body.chunks(chunk.max(1)) {
            rows.extend(s.push(c)?.into_iter().map(|e| String::from_utf8(e).unwrap()));
        }
        let head = s.finish()?;
        Ok((serde_json::from_slice(&head).unwrap(), rows))
    }

    #[test]
    fn splits_a_drf_page_whatever_the_chunking() {
        let body = br#"{"count":3,"next":"http://h/beta/v1/agent/?page=2","previous":null,"results" : [{"id":1,"services":[{"n":"]"}]},{"id":2}] } "#;
        for chunk in [1, 2, 5, 13, 4096] {
            let (head, rows) = page_in(body, chunk).unwrap();
            assert_eq!(head["count"], 3, "chunk {chunk}");
            assert_eq!(head["next"], "http://h/beta/v1/agent/?page=2");
            assert_eq!(rows, vec![r#"{"id":1,"services":[{"n":"]"}]}"#, r#"{"id":2}"#], "chunk {chunk}");
        }
        let (head, rows) = page_in(br#"{"count":0,"next":null,"previous":null,"results":[]}"#, 3).unwrap();
        assert_eq!((head["count"].as_u64(), rows.len()), (Some(0), 0));
    }

    #[test]
    fn refuses_a_page_that_is_not_one() {
        assert_eq!(
            page_in(br#"{"count":3,"next":null,"previous":null,"results":[{"id":1}"#, 4).err(),
            Some(SplitError::Truncated)
        );
        assert_eq!(page_in(br#"{"count":3,"results":[{"id":1}]"#, 4).err(), Some(SplitError::Truncated));
        assert_eq!(page_in(br#"{"count":3,"results":[]}}"#, 4).err(), Some(SplitError::TrailingData));
        let long = format!(r#"{{"count":3,"next":"{}","results":[]}}"#, "x".repeat(200));
        assert_eq!(page_in(long.as_bytes(), 8).err(), Some(SplitError::NoResults(128)));
        assert_eq!(page_in(br#"["results"]"#, 8).err(), Some(SplitError::NoResults(128)));
    }

    #[test]
    fn memory_is_bounded_by_the_largest_element() {
        let mut s = ArraySplitter::new(100);
        let elem = format!("{{\"k\":\"{}\"}}", "v".repeat(50));
        let body = format!("[{}]", vec![elem.as_str(); 1000].join(","));
        let mut n = 0;
        for c in body.as_bytes().chunks(16) {
            n += s.push(c).unwrap().len();
        }
        s.finish().unwrap();
        assert_eq!(n, 1000);
        assert!(s.peak_buffer() < 100, "peak {}", s.peak_buffer());
        let mut s = ArraySplitter::new(10);
        assert_eq!(s.push(br#"[{"k":"0123456789abc"#), Err(SplitError::ElementTooLarge(10)));
    }
}
