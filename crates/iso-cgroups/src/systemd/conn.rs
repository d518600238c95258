//! A D-Bus connection to systemd's private socket: messages, `EXTERNAL` authentication, and
//! blocking calls on one socket (no threads, no event loop).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::wire::{split, Reader, Value, WireError, Writer};
use crate::error::{Error, Result};

/// The kinds of message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Call = 1,
    Return = 2,
    Error = 3,
    Signal = 4,
}

/// The largest message the specification allows (128 MiB).
const MAX_MESSAGE: usize = 1 << 27;

/// A message, its body kept encoded until asked for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub kind: Kind,
    pub serial: u32,
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub reply_serial: Option<u32>,
    pub signature: String,
    body: Vec<u8>,
    big: bool,
}

impl Message {
    /// A method call on systemd's manager (or another object of it).
    pub fn call(path: &str, interface: &str, member: &str, args: &[Value]) -> Message {
        let mut w = Writer::default();
        for a in args {
            w.value(a);
        }
        Message {
            kind: Kind::Call,
            serial: 0,
            path: Some(path.into()),
            interface: Some(interface.into()),
            member: Some(member.into()),
            error_name: None,
            reply_serial: None,
            signature: args.iter().map(Value::signature).collect(),
            body: w.buf,
            big: false,
        }
    }

    /// The message in wire format, with `serial`.
    pub fn encode(&self, serial: u32) -> Vec<u8> {
        let mut fields = Vec::new();
        let mut field = |code: u8, v: Value| {
            fields.push(Value::Struct(vec![
                Value::Byte(code),
                Value::Variant(Box::new(v)),
            ]));
        };
        if let Some(p) = &self.path {
            field(1, Value::Path(p.clone()));
        }
        if let Some(i) = &self.interface {
            field(2, Value::str(i));
        }
        if let Some(m) = &self.member {
            field(3, Value::str(m));
        }
        if let Some(e) = &self.error_name {
            field(4, Value::str(e));
        }
        if let Some(r) = self.reply_serial {
            field(5, Value::u32(r));
        }
        if !self.signature.is_empty() {
            field(8, Value::Sig(self.signature.clone()));
        }
        let mut w = Writer::default();
        w.buf.extend_from_slice(&[b'l', self.kind as u8, 0, 1]);
        w.u32(self.body.len() as u32);
        w.u32(serial);
        w.value(&Value::Array("(yv)".into(), fields));
        w.align(8);
        w.buf.extend_from_slice(&self.body);
        w.buf
    }

    /// The total length of the message whose first 16 bytes are `head`.
    pub fn frame_len(head: &[u8; 16]) -> std::result::Result<usize, WireError> {
        let big = match head[0] {
            b'l' => false,
            b'B' => true,
            e => return Err(WireError(format!("unknown byte order {e:#x}"))),
        };
        let num = |b: &[u8]| {
            let a = [b[0], b[1], b[2], b[3]];
            (if big {
                u32::from_be_bytes(a)
            } else {
                u32::from_le_bytes(a)
            }) as usize
        };
        let fields = (16 + num(&head[12..16])).div_ceil(8) * 8;
        let total = fields.saturating_add(num(&head[4..8]));
        if total > MAX_MESSAGE {
            return Err(WireError(format!("message of {total} bytes is too long")));
        }
        Ok(total)
    }

    /// Parses one complete message.
    pub fn parse(buf: &[u8]) -> std::result::Result<Message, WireError> {
        let head: &[u8; 16] = buf
            .get(..16)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| WireError("truncated header".into()))?;
        if Message::frame_len(head)? != buf.len() {
            return Err(WireError("length does not match the header".into()));
        }
        let big = head[0] == b'B';
        let kind = match head[1] {
            1 => Kind::Call,
            2 => Kind::Return,
            3 => Kind::Error,
            4 => Kind::Signal,
            k => return Err(WireError(format!("unknown message type {k}"))),
        };
        let mut r = Reader::new(buf, big);
        r.pos = 4;
        let body_len = r.u32()? as usize;
        let serial = r.u32()?;
        let Value::Array(_, fields) = r.value("a(yv)")? else {
            return Err(WireError("header fields".into()));
        };
        let mut m = Message {
            kind,
            serial,
            path: None,
            interface: None,
            member: None,
            error_name: None,
            reply_serial: None,
            signature: String::new(),
            body: buf[buf.len() - body_len..].to_vec(),
            big,
        };
        for f in fields {
            let Value::Struct(kv) = f else { continue };
            let (Some(Value::Byte(code)), Some(Value::Variant(v))) = (kv.first(), kv.get(1)) else {
                continue;
            };
            let text = v.as_str().map(str::to_owned);
            match code {
                1 => m.path = text,
                2 => m.interface = text,
                3 => m.member = text,
                4 => m.error_name = text,
                5 => m.reply_serial = v.as_u64().and_then(|n| u32::try_from(n).ok()),
                8 => m.signature = text.unwrap_or_default(),
                _ => {}
            }
        }
        Ok(m)
    }

    /// The decoded arguments of the body.
    pub fn args(&self) -> std::result::Result<Vec<Value>, WireError> {
        let mut r = Reader::new(&self.body, self.big);
        let args = split(&self.signature)?
            .into_iter()
            .map(|t| r.value(t))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if r.pos != self.body.len() {
            return Err(WireError("bytes after the body's values".into()));
        }
        Ok(args)
    }
}

/// A method call systemd answered with an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    /// The D-Bus error name (`org.freedesktop.systemd1.NoSuchUnit`, ...).
    pub name: String,
    /// systemd's message.
    pub message: String,
}

/// A connection: the socket, the next serial, and signals read while waiting for a reply.
#[derive(Debug)]
pub(crate) struct Connection {
    sock: UnixStream,
    path: PathBuf,
    serial: u32,
    signals: VecDeque<Message>,
}

impl Connection {
    /// Connects to `path` and authenticates as this process' effective uid (`EXTERNAL`:
    /// the peer checks the socket's credentials).
    pub fn open(path: &Path) -> Result<Connection> {
        let sock = UnixStream::connect(path).map_err(|e| Error::io("connect", path, e))?;
        let mut c = Connection {
            sock,
            path: path.to_path_buf(),
            serial: 0,
            signals: VecDeque::new(),
        };
        c.authenticate()?;
        Ok(c)
    }

    fn protocol(&self, reason: impl Into<String>) -> Error {
        Error::Dbus {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn authenticate(&mut self) -> Result<()> {
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() }.to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        self.send_raw(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())?;
        let line = self.read_line()?;
        if !line.starts_with("OK ") {
            return Err(self.protocol(format!("authentication refused: {line:?}")));
        }
        self.send_raw(b"BEGIN\r\n")
    }

    fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.sock
            .write_all(bytes)
            .map_err(|e| Error::io("write", &self.path, e))
    }

    fn read_line(&mut self) -> Result<String> {
        self.deadline(Instant::now() + Duration::from_secs(10))?;
        let mut line = Vec::new();
        let mut byte = [0u8];
        while !line.ends_with(b"\r\n") {
            self.sock
                .read_exact(&mut byte)
                .map_err(|e| Error::io("read", &self.path, e))?;
            line.push(byte[0]);
            if line.len() > 512 {
                return Err(self.protocol("authentication line too long"));
            }
        }
        Ok(String::from_utf8_lossy(&line).trim_end().to_owned())
    }

    fn deadline(&self, until: Instant) -> Result<()> {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::io(
                "read",
                &self.path,
                std::io::Error::from_raw_os_error(libc::ETIMEDOUT),
            ));
        }
        self.sock
            .set_read_timeout(Some(left))
            .map_err(|e| Error::io("set timeout on", &self.path, e))
    }

    fn read_message(&mut self, until: Instant) -> Result<Message> {
        self.deadline(until)?;
        let mut head = [0u8; 16];
        self.sock
            .read_exact(&mut head)
            .map_err(|e| Error::io("read", &self.path, e))?;
        let len = Message::frame_len(&head).map_err(|e| self.protocol(e.0))?;
        let mut buf = head.to_vec();
        buf.resize(len.max(16), 0);
        self.sock
            .read_exact(&mut buf[16..])
            .map_err(|e| Error::io("read", &self.path, e))?;
        Message::parse(&buf).map_err(|e| self.protocol(e.0))
    }

    /// Calls a method and waits (until `until`) for its reply: the reply's arguments, or
    /// systemd's refusal. Signals that arrive first are kept for [`Connection::signal`].
    pub fn call(
        &mut self,
        msg: &Message,
        until: Instant,
    ) -> Result<std::result::Result<Vec<Value>, Refused>> {
        self.serial += 1;
        let serial = self.serial;
        self.send_raw(&msg.encode(serial))?;
        loop {
            let m = self.read_message(until)?;
            match m.kind {
                Kind::Signal => self.signals.push_back(m),
                Kind::Return | Kind::Error if m.reply_serial == Some(serial) => {
                    let args = m.args().map_err(|e| self.protocol(e.0))?;
                    if m.kind == Kind::Return {
                        return Ok(Ok(args));
                    }
                    let message = args
                        .first()
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    return Ok(Err(Refused {
                        name: m.error_name.unwrap_or_default(),
                        message,
                    }));
                }
                _ => {}
            }
        }
    }

    /// Waits (until `until`) for the signal `member` whose arguments `wanted` accepts.
    pub fn signal(
        &mut self,
        member: &str,
        until: Instant,
        wanted: impl Fn(&[Value]) -> bool,
    ) -> Result<Vec<Value>> {
        loop {
            let m = match self.signals.pop_front() {
                Some(m) => m,
                None => self.read_message(until)?,
            };
            if m.kind != Kind::Signal || m.member.as_deref() != Some(member) {
                continue;
            }
            let args = m.args().map_err(|e| self.protocol(e.0))?;
            if wanted(&args) {
                return Ok(args);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_call_encodes_and_parses_back() {
        let call = Message::call(
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "StopUnit",
            &[Value::str("iso-c1.scope"), Value::str("replace")],
        );
        let bytes = call.encode(7);
        assert_eq!(&bytes[..4], b"l\x01\x00\x01");
        let head: [u8; 16] = bytes[..16].try_into().unwrap();
        assert_eq!(Message::frame_len(&head).unwrap(), bytes.len());
        let back = Message::parse(&bytes).unwrap();
        assert_eq!(back.serial, 7);
        assert_eq!(back.member.as_deref(), Some("StopUnit"));
        assert_eq!(back.signature, "ss");
        assert_eq!(
            back.args().unwrap(),
            [Value::str("iso-c1.scope"), Value::str("replace")]
        );
    }

    #[test]
    fn an_error_reply_parses() {
        let mut reply = Message::call("/", "i", "m", &[Value::str("Unit x.scope not loaded.")]);
        reply.kind = Kind::Error;
        reply.path = None;
        reply.interface = None;
        reply.member = None;
        reply.error_name = Some("org.freedesktop.systemd1.NoSuchUnit".into());
        reply.reply_serial = Some(3);
        let back = Message::parse(&reply.encode(9)).unwrap();
        assert_eq!(back.kind, Kind::Error);
        assert_eq!(back.reply_serial, Some(3));
        assert_eq!(back.error_name, reply.error_name);
    }

    /// A JobRemoved signal as systemd (sd-bus, little-endian) sends it, written out by hand
    /// from the specification.
    #[test]
    fn a_job_removed_signal_from_bytes() {
        let mut w = Writer::default();
        w.value(&Value::u32(17));
        w.value(&Value::Path("/org/freedesktop/systemd1/job/17".into()));
        w.value(&Value::str("iso-c1.scope"));
        w.value(&Value::str("done"));
        let mut sig = Message::call(
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "JobRemoved",
            &[],
        );
        sig.kind = Kind::Signal;
        sig.signature = "uoss".into();
        sig.body = w.buf;
        let back = Message::parse(&sig.encode(100)).unwrap();
        let args = back.args().unwrap();
        assert_eq!(args[3], Value::str("done"));
        assert_eq!(args[1].as_str(), Some("/org/freedesktop/systemd1/job/17"));
    }

    proptest! {
        #[test]
        fn parsing_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(m) = Message::parse(&bytes) {
                let _ = m.args();
            }
        }

        #[test]
        fn corrupting_a_valid_message_never_panics(idx in 0usize..120, byte in any::<u8>()) {
            let call = Message::call("/a", "b.c", "D", &[Value::str("x"), Value::u64(5)]);
            let mut bytes = call.encode(1);
            let i = idx % bytes.len();
            bytes[i] = byte;
            if let Ok(m) = Message::parse(&bytes) {
                let _ = m.args();
            }
        }
    }
}
