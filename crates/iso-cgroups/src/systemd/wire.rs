//! The D-Bus wire format (marshalling), for the handful of types systemd's manager API uses.
//!
//! Values are written little-endian; both byte orders are read. Every read is bounds-checked
//! and nesting is limited as the specification says (32 arrays, 32 structures), so a
//! malformed message is an error, never a panic.

use std::fmt;

/// A decoded or to-be-encoded D-Bus value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `y`
    Byte(u8),
    /// `b`
    Bool(bool),
    /// `n`, `i` and `x`, widened.
    Int(char, i64),
    /// `q`, `u` and `t`, widened.
    UInt(char, u64),
    /// `d`, as its bits.
    Double(u64),
    /// `s`
    Str(String),
    /// `o`
    Path(String),
    /// `g`
    Sig(String),
    /// `a<element>`: the element's signature and the elements.
    Array(String, Vec<Value>),
    /// `(...)`
    Struct(Vec<Value>),
    /// `{kv}`
    Entry(Box<Value>, Box<Value>),
    /// `v`
    Variant(Box<Value>),
}

/// A malformed message or value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireError(pub String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad<T>(what: impl Into<String>) -> Result<T, WireError> {
    Err(WireError(what.into()))
}

/// The specification's nesting limits.
const MAX_DEPTH: usize = 32;

impl Value {
    /// A `u` value.
    pub fn u32(v: u32) -> Value {
        Value::UInt('u', v.into())
    }

    /// A `t` value.
    pub fn u64(v: u64) -> Value {
        Value::UInt('t', v)
    }

    /// A string.
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// The signature of this value.
    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Bool(_) => "b".into(),
            Value::Int(c, _) | Value::UInt(c, _) => c.to_string(),
            Value::Double(_) => "d".into(),
            Value::Str(_) => "s".into(),
            Value::Path(_) => "o".into(),
            Value::Sig(_) => "g".into(),
            Value::Array(elem, _) => format!("a{elem}"),
            Value::Struct(fields) => {
                let inner: String = fields.iter().map(Value::signature).collect();
                format!("({inner})")
            }
            Value::Entry(k, v) => format!("{{{}{}}}", k.signature(), v.signature()),
            Value::Variant(_) => "v".into(),
        }
    }

    /// The string of an `s`, `o` or `g` value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Path(s) | Value::Sig(s) => Some(s),
            _ => None,
        }
    }

    /// The number of a `y`, `q`, `u` or `t` value.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Byte(b) => Some((*b).into()),
            Value::UInt(_, v) => Some(*v),
            _ => None,
        }
    }
}

/// The alignment of the type a signature starts with.
fn alignment(code: u8) -> usize {
    match code {
        b'y' | b'g' | b'v' => 1,
        b'n' | b'q' => 2,
        b'b' | b'i' | b'u' | b's' | b'o' | b'a' => 4,
        _ => 8,
    }
}

/// The length of the first complete type of `sig`.
pub(crate) fn first_type(sig: &[u8]) -> Result<usize, WireError> {
    fn walk(sig: &[u8], arrays: usize, structs: usize) -> Result<usize, WireError> {
        if arrays > MAX_DEPTH || structs > MAX_DEPTH {
            return bad("signature nested too deeply");
        }
        match sig.first() {
            Some(b'y' | b'b' | b'n' | b'q' | b'i' | b'u' | b'x' | b't' | b'd' | b's' | b'o')
            | Some(b'g' | b'v') => Ok(1),
            Some(b'a') => Ok(1 + walk(&sig[1..], arrays + 1, structs)?),
            Some(&open @ (b'(' | b'{')) => {
                let close = if open == b'(' { b')' } else { b'}' };
                let mut i = 1;
                let mut n = 0;
                while sig.get(i) != Some(&close) {
                    if i >= sig.len() {
                        return bad("unterminated structure in signature");
                    }
                    if open == b'{' && n == 0 && sig[i] == b'a' {
                        return bad("a dictionary key must be a basic type");
                    }
                    i += walk(&sig[i..], arrays, structs + 1)?;
                    n += 1;
                }
                if n == 0 || (open == b'{' && n != 2) {
                    return bad("empty structure or malformed dictionary entry in signature");
                }
                Ok(i + 1)
            }
            Some(c) => bad(format!("unknown type code {:?} in signature", *c as char)),
            None => bad("empty signature"),
        }
    }
    walk(sig, 0, 0)
}

/// Splits a signature into its complete types.
pub(crate) fn split(sig: &str) -> Result<Vec<&str>, WireError> {
    let mut out = Vec::new();
    let mut rest = sig;
    while !rest.is_empty() {
        let n = first_type(rest.as_bytes())?;
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    Ok(out)
}

/// Appends values to a message, aligned from its start.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn align(&mut self, n: usize) {
        while self.buf.len() % n != 0 {
            self.buf.push(0);
        }
    }

    pub fn u32(&mut self, v: u32) {
        self.align(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn string(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    /// Appends `v` (strings are written as given: a NUL inside one is the caller's bug and
    /// is refused by the peer).
    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Byte(b) => self.buf.push(*b),
            Value::Bool(b) => self.u32(u32::from(*b)),
            Value::Int(c, i) => self.fixed(*c, *i as u64),
            Value::UInt(c, u) => self.fixed(*c, *u),
            Value::Double(bits) => self.fixed('d', *bits),
            Value::Str(s) | Value::Path(s) => self.string(s),
            Value::Sig(s) => {
                self.buf.push(s.len() as u8);
                self.buf.extend_from_slice(s.as_bytes());
                self.buf.push(0);
            }
            Value::Array(elem, items) => {
                self.align(4);
                let at = self.buf.len();
                self.buf.extend_from_slice(&[0; 4]);
                self.align(alignment(elem.as_bytes().first().copied().unwrap_or(b'y')));
                let start = self.buf.len();
                for item in items {
                    self.value(item);
                }
                let len = (self.buf.len() - start) as u32;
                self.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
            }
            Value::Struct(fields) => {
                self.align(8);
                for f in fields {
                    self.value(f);
                }
            }
            Value::Entry(k, v) => {
                self.align(8);
                self.value(k);
                self.value(v);
            }
            Value::Variant(inner) => {
                self.value(&Value::Sig(inner.signature()));
                self.value(inner);
            }
        }
    }

    fn fixed(&mut self, code: char, v: u64) {
        match code {
            'n' | 'q' => {
                self.align(2);
                self.buf.extend_from_slice(&(v as u16).to_le_bytes());
            }
            'i' | 'u' => self.u32(v as u32),
            _ => {
                self.align(8);
                self.buf.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
}

/// Reads values from a message (or a body that starts 8-aligned within one).
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pub pos: usize,
    big: bool,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], big_endian: bool) -> Self {
        Reader {
            buf,
            pos: 0,
            big: big_endian,
        }
    }

    fn align(&mut self, n: usize) -> Result<(), WireError> {
        let to = self.pos.div_ceil(n) * n;
        if to > self.buf.len() {
            return bad("truncated (padding)");
        }
        if self.buf[self.pos..to].iter().any(|&b| b != 0) {
            return bad("non-zero padding");
        }
        self.pos = to;
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return bad(format!(
                "truncated: {n} bytes wanted at offset {}",
                self.pos
            ));
        };
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn uint(&mut self, size: usize) -> Result<u64, WireError> {
        self.align(size)?;
        let bytes = self.take(size)?;
        let mut v = 0u64;
        for i in 0..size {
            let b = if self.big {
                bytes[i]
            } else {
                bytes[size - 1 - i]
            };
            v = (v << 8) | u64::from(b);
        }
        Ok(v)
    }

    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(self.uint(4)? as u32)
    }

    fn text(&mut self, len: usize) -> Result<String, WireError> {
        let bytes = self.take(len)?;
        if self.take(1)? != [0] {
            return bad("string not NUL-terminated");
        }
        if bytes.contains(&0) {
            return bad("NUL inside a string");
        }
        String::from_utf8(bytes.to_vec()).or_else(|_| bad("string is not UTF-8"))
    }

    /// Reads one value of the complete type `sig`.
    pub fn value(&mut self, sig: &str) -> Result<Value, WireError> {
        self.nested(sig, 0)
    }

    fn nested(&mut self, sig: &str, depth: usize) -> Result<Value, WireError> {
        if depth > 2 * MAX_DEPTH {
            return bad("value nested too deeply");
        }
        let code = sig.as_bytes().first().copied().unwrap_or(0);
        Ok(match code {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => match self.u32()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                n => return bad(format!("boolean {n}")),
            },
            b'n' => Value::Int('n', i64::from(self.uint(2)? as u16 as i16)),
            b'i' => Value::Int('i', i64::from(self.uint(4)? as u32 as i32)),
            b'x' => Value::Int('x', self.uint(8)? as i64),
            b'q' => Value::UInt('q', self.uint(2)?),
            b'u' => Value::UInt('u', self.uint(4)?),
            b't' => Value::UInt('t', self.uint(8)?),
            b'd' => Value::Double(self.uint(8)?),
            b's' | b'o' => {
                let len = self.u32()? as usize;
                let s = self.text(len)?;
                if code == b's' {
                    Value::Str(s)
                } else {
                    Value::Path(s)
                }
            }
            b'g' => {
                let len = usize::from(self.take(1)?[0]);
                Value::Sig(self.text(len)?)
            }
            b'v' => {
                let len = usize::from(self.take(1)?[0]);
                let inner = self.text(len)?;
                if first_type(inner.as_bytes())? != inner.len() {
                    return bad(format!("variant signature {inner:?} is not one type"));
                }
                Value::Variant(Box::new(self.nested(&inner, depth + 1)?))
            }
            b'a' => self.array(&sig[1..], depth)?,
            b'(' | b'{' => {
                self.align(8)?;
                let inner = split(&sig[1..sig.len() - 1])?;
                let mut fields = Vec::with_capacity(inner.len());
                for s in inner {
                    fields.push(self.nested(s, depth + 1)?);
                }
                if code == b'(' {
                    Value::Struct(fields)
                } else {
                    let mut it = fields.into_iter();
                    match (it.next(), it.next()) {
                        (Some(k), Some(v)) => Value::Entry(Box::new(k), Box::new(v)),
                        _ => return bad("dictionary entry without key and value"),
                    }
                }
            }
            _ => return bad(format!("cannot read type {sig:?}")),
        })
    }

    fn array(&mut self, elem: &str, depth: usize) -> Result<Value, WireError> {
        let len = self.u32()? as usize;
        if len > 1 << 26 {
            return bad(format!("array of {len} bytes exceeds the 64 MiB limit"));
        }
        self.align(alignment(elem.as_bytes().first().copied().unwrap_or(b'y')))?;
        let end = self.pos.checked_add(len).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return bad("truncated array");
        };
        let mut items = Vec::new();
        while self.pos < end {
            items.push(self.nested(elem, depth + 1)?);
        }
        if self.pos != end {
            return bad("array elements overrun its length");
        }
        Ok(Value::Array(elem.to_owned(), items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(v: &Value) -> Value {
        let mut w = Writer::default();
        w.value(v);
        let mut r = Reader::new(&w.buf, false);
        let back = r.value(&v.signature()).unwrap();
        assert_eq!(r.pos, w.buf.len());
        back
    }

    #[test]
    fn encodes_as_the_specification_says() {
        // A string: length, bytes, NUL.
        let mut w = Writer::default();
        w.value(&Value::str("ab"));
        assert_eq!(w.buf, [2, 0, 0, 0, b'a', b'b', 0]);
        // An array of u64 after a byte: padding to 4 for the length, to 8 for the elements,
        // and the length counts the elements only.
        let mut w = Writer::default();
        w.value(&Value::Byte(7));
        w.value(&Value::Array("t".into(), vec![Value::u64(1)]));
        assert_eq!(w.buf, [7, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        // A variant: its signature, then the value.
        let mut w = Writer::default();
        w.value(&Value::Variant(Box::new(Value::Bool(true))));
        assert_eq!(w.buf, [1, b'b', 0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn reads_big_endian() {
        let mut r = Reader::new(&[0, 0, 0, 5], true);
        assert_eq!(r.value("u").unwrap(), Value::u32(5));
    }

    #[test]
    fn the_property_array_round_trips() {
        let props = Value::Array(
            "(sv)".into(),
            vec![
                Value::Struct(vec![
                    Value::str("PIDs"),
                    Value::Variant(Box::new(Value::Array("u".into(), vec![Value::u32(42)]))),
                ]),
                Value::Struct(vec![
                    Value::str("DeviceAllow"),
                    Value::Variant(Box::new(Value::Array("(ss)".into(), vec![]))),
                ]),
                Value::Struct(vec![
                    Value::str("Delegate"),
                    Value::Variant(Box::new(Value::Bool(true))),
                ]),
            ],
        );
        assert_eq!(props.signature(), "a(sv)");
        assert_eq!(round_trip(&props), props);
        let dict = Value::Array(
            "{sv}".into(),
            vec![Value::Entry(
                Box::new(Value::str("k")),
                Box::new(Value::Variant(Box::new(Value::Int('i', -3)))),
            )],
        );
        assert_eq!(round_trip(&dict), dict);
    }

    #[test]
    fn signatures() {
        assert_eq!(split("uoss").unwrap(), ["u", "o", "s", "s"]);
        assert_eq!(split("a(sv)a(sa(sv))").unwrap(), ["a(sv)", "a(sa(sv))"]);
        assert_eq!(split("a{sv}as").unwrap(), ["a{sv}", "as"]);
        for wrong in ["(", "()", "a", "{ss", "{asv}", "{sss}", "z"] {
            assert!(split(wrong).is_err(), "{wrong}");
        }
        assert!(first_type(&[b'a'; 40]).is_err());
    }

    #[test]
    fn malformed_values_are_errors() {
        let cases: &[(&[u8], &str)] = &[
            (&[1, 0, 0, 0, b'a'], "s"),          // no NUL
            (&[1, 0, 0, 0, 0, 0], "s"),          // NUL inside
            (&[2, 0, 0, 0], "b"),                // boolean 2
            (&[255, 255, 255, 255], "ay"),       // array longer than the data
            (&[1, b'z', 0], "v"),                // unknown type in a variant
            (&[2, b'u', b'u', 0, 0, 0, 0], "v"), // two types in a variant
            (&[0, 1, 0, 0, 0], "yu"),            // non-zero padding
        ];
        for (bytes, sig) in cases {
            let mut r = Reader::new(bytes, false);
            let res = split(sig)
                .unwrap()
                .into_iter()
                .try_for_each(|s| r.value(s).map(drop));
            assert!(res.is_err(), "{bytes:?} as {sig}");
        }
    }

    fn values() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<u8>().prop_map(Value::Byte),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|i| Value::Int('i', i.into())),
            any::<u32>().prop_map(Value::u32),
            any::<u64>().prop_map(Value::u64),
            "[^\0]{0,12}".prop_map(Value::Str),
            "/[a-z0-9_]{0,8}".prop_map(Value::Path),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 1..4).prop_map(Value::Struct),
                inner.clone().prop_map(|v| Value::Variant(Box::new(v))),
                inner.prop_map(|v| Value::Array(v.signature(), vec![v.clone(), v])),
            ]
        })
    }

    proptest! {
        #[test]
        fn encoded_values_decode_to_themselves(v in values()) {
            prop_assert_eq!(round_trip(&v), v);
        }

        #[test]
        fn reading_any_bytes_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..96),
            sig in "[ybnqiuxtdsogv(){}a]{1,8}",
            big in any::<bool>(),
        ) {
            if let Ok(types) = split(&sig) {
                let mut r = Reader::new(&bytes, big);
                for t in types {
                    if r.value(t).is_err() {
                        break;
                    }
                }
            }
        }
    }
}
