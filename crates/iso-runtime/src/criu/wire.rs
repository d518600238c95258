//! The protocol buffers wire format, as much of it as CRIU's RPC messages use: varints
//! (`int32`, `uint32`, `bool`, enums) and length-delimited fields (strings, nested messages).
//!
//! The encoder writes the fields the runtime sets; the decoder reads bytes from another
//! process (CRIU), so it is total: a truncated varint, a length past the end, a group or an
//! unknown wire type is an [`WireError`], never a panic or an allocation the input sizes.

/// A decoding failure: what was malformed and at which byte offset.
///
/// ```
/// // A length-delimited field 2 claiming 5 bytes where one follows.
/// let err = iso_runtime::criu::Response::decode(&[0x12, 5, b'a']).unwrap_err();
/// assert_eq!((err.offset, err.reason), (2, "length past the end"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// Offset into the message.
    pub offset: usize,
    /// What was wrong there.
    pub reason: &'static str,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "byte {}: {}", self.offset, self.reason)
    }
}

/// Wire type of varint fields.
const VARINT: u64 = 0;
/// Wire type of 64-bit fields (skipped).
const FIXED64: u64 = 1;
/// Wire type of length-delimited fields.
const LEN: u64 = 2;
/// Wire type of 32-bit fields (skipped).
const FIXED32: u64 = 5;

/// A message being encoded.
#[derive(Debug, Default, Clone)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u64) {
        self.varint((u64::from(field) << 3) | wire);
    }

    /// An `int32` (negative values take ten bytes, as protobuf sign-extends them).
    pub fn int32(&mut self, field: u32, v: i32) -> &mut Self {
        self.key(field, VARINT);
        self.varint(i64::from(v) as u64);
        self
    }

    /// A `uint32` or an enum value.
    pub fn uint32(&mut self, field: u32, v: u32) -> &mut Self {
        self.key(field, VARINT);
        self.varint(u64::from(v));
        self
    }

    /// A `bool`.
    pub fn bool(&mut self, field: u32, v: bool) -> &mut Self {
        self.uint32(field, u32::from(v))
    }

    /// A `bool` written only when true (CRIU's defaults are false).
    pub fn flag(&mut self, field: u32, v: bool) -> &mut Self {
        if v {
            self.bool(field, true);
        }
        self
    }

    /// A `string` or `bytes`.
    pub fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Self {
        self.key(field, LEN);
        self.varint(v.len() as u64);
        self.buf.extend_from_slice(v);
        self
    }

    /// A nested message.
    pub fn message(&mut self, field: u32, v: &Encoder) -> &mut Self {
        self.bytes(field, &v.buf)
    }

    /// The encoded bytes.
    pub fn finish(&self) -> Vec<u8> {
        self.buf.clone()
    }
}

/// One decoded field: its number and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    /// A varint field.
    Varint(u32, u64),
    /// A length-delimited field.
    Bytes(u32, &'a [u8]),
}

/// The fields of an encoded message, in order; fixed-width fields are skipped.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    /// Iterates over the fields of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Fields { data, pos: 0 }
    }

    fn error(&self, reason: &'static str) -> WireError {
        WireError {
            offset: self.pos,
            reason,
        }
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .data
                .get(self.pos)
                .ok_or_else(|| self.error("truncated varint"))?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.error("varint longer than ten bytes"))
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], WireError> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .filter(|end| *end <= self.data.len())
            .ok_or_else(|| self.error("length past the end"))?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn next_field(&mut self) -> Result<Option<Field<'a>>, WireError> {
        while self.pos < self.data.len() {
            let key = self.varint()?;
            let field = u32::try_from(key >> 3).map_err(|_| self.error("field number"))?;
            match key & 7 {
                VARINT => return Ok(Some(Field::Varint(field, self.varint()?))),
                LEN => {
                    let n = self.varint()?;
                    return Ok(Some(Field::Bytes(field, self.take(n)?)));
                }
                FIXED64 => {
                    self.take(8)?;
                }
                FIXED32 => {
                    self.take(4)?;
                }
                _ => return Err(self.error("unsupported wire type")),
            }
        }
        Ok(None)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_field() {
            Ok(f) => f.map(Ok),
            Err(e) => {
                // Stop after the first error.
                self.pos = self.data.len();
                Some(Err(e))
            }
        }
    }
}

/// A varint as an `int32` (protobuf truncates to the low 32 bits).
pub fn as_i32(v: u64) -> i32 {
    v as u32 as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_the_documented_examples() {
        // From the protobuf encoding guide: field 1 = 150 is 08 96 01.
        assert_eq!(
            Encoder::default().uint32(1, 150).finish(),
            [0x08, 0x96, 0x01]
        );
        // Field 2 = "testing".
        let e = Encoder::default().bytes(2, b"testing").finish();
        assert_eq!(e, b"\x12\x07testing");
        // A negative int32 is ten bytes.
        assert_eq!(Encoder::default().int32(1, -1).finish().len(), 11);
    }

    #[test]
    fn decodes_and_skips_fixed_fields() {
        let mut e = Encoder::default();
        e.int32(1, -1).bytes(9, b"x");
        let mut data = e.finish();
        data.extend_from_slice(&[0x19, 1, 2, 3, 4, 5, 6, 7, 8]); // field 3, fixed64
        data.extend_from_slice(&[0x25, 1, 2, 3, 4]); // field 4, fixed32
        let fields: Vec<_> = Fields::new(&data).collect::<Result<_, _>>().unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0], Field::Varint(1, u64::MAX));
        assert_eq!(as_i32(u64::MAX), -1);
        assert_eq!(fields[1], Field::Bytes(9, b"x"));
    }

    #[test]
    fn malformed_input_is_an_error() {
        for (data, reason) in [
            (&[0x08, 0x80][..], "truncated varint"),
            (&[0x12, 0x05, b'a'][..], "length past the end"),
            (&[0x0b][..], "unsupported wire type"),
            (
                &[
                    0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                ][..],
                "varint longer than ten bytes",
            ),
        ] {
            let err = Fields::new(data).find_map(Result::err).unwrap();
            assert_eq!(err.reason, reason, "{data:?}");
        }
    }

    proptest! {
        #[test]
        fn decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let n = Fields::new(&data).count();
            prop_assert!(n <= data.len() + 1);
        }

        #[test]
        fn round_trips(a in any::<i32>(), b in any::<u32>(), s in ".{0,40}") {
            let mut e = Encoder::default();
            e.int32(1, a).uint32(2, b).bytes(3, s.as_bytes());
            let data = e.finish();
            let f: Vec<_> = Fields::new(&data).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(f, vec![
                Field::Varint(1, i64::from(a) as u64),
                Field::Varint(2, u64::from(b)),
                Field::Bytes(3, s.as_bytes()),
            ]);
        }
    }
}
