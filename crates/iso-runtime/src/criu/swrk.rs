//! A conversation with `criu swrk`: CRIU started as the runtime's child with one end of a
//! `SOCK_SEQPACKET` socket pair, one message a request or a response, notifications
//! answered until the final response.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::rpc::{Notify, Request, RequestType, Response};
use crate::error::io_err;
use crate::Error;

/// The largest message CRIU sends (its responses are a few hundred bytes).
const MAX_MESSAGE: usize = 1 << 16;

/// The CRIU program: `$ISO_CRIU`, else `criu` from `PATH`.
fn criu_program() -> PathBuf {
    std::env::var_os("ISO_CRIU").map_or_else(|| "criu".into(), PathBuf::from)
}

/// A running `criu swrk` and the runtime's end of its socket.
pub(crate) struct Swrk {
    child: Child,
    sock: OwnedFd,
    /// CRIU's log, named in errors.
    log: PathBuf,
}

fn socketpair() -> Result<(OwnedFd, OwnedFd), Error> {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two descriptors into a valid array.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(Error::io(
            "socketpair",
            "(criu swrk)",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: two fresh descriptors this process owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl Swrk {
    /// Starts `criu swrk` with its stdio the runtime's (the restored process may inherit
    /// them) and `inherit` (descriptors the request names: image and work directories, the
    /// status fd) kept open across its `execve`. `log` is where the request sends CRIU's log.
    pub fn start(inherit: &[RawFd], log: &Path) -> Result<Swrk, Error> {
        let (ours, theirs) = socketpair()?;
        let mut keep = inherit.to_vec();
        keep.push(theirs.as_raw_fd());
        let program = criu_program();
        let mut cmd = Command::new(&program);
        cmd.arg("swrk")
            .arg(theirs.as_raw_fd().to_string())
            .stdin(Stdio::inherit());
        // SAFETY: the closure only calls fcntl, which is async-signal-safe, on descriptors
        // that exist in the child (copies of this process' open ones).
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                for fd in &keep {
                    if libc::fcntl(*fd, libc::F_SETFD, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            })
        };
        let child = cmd.spawn().map_err(io_err("run", program))?;
        drop(theirs);
        Ok(Swrk {
            child,
            sock: ours,
            log: log.to_path_buf(),
        })
    }

    /// CRIU's pid (to put it in the container's cgroup before a restore).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn send(&self, req: &Request) -> Result<(), Error> {
        let msg = req.encode();
        // SAFETY: send from a valid buffer of msg.len() bytes.
        let n = unsafe {
            libc::send(
                self.sock.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n != msg.len() as isize {
            return Err(self.failed("send the request", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// The next message; `None` when CRIU closed its end (it exited).
    fn recv(&self) -> Result<Option<Response>, Error> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let n = loop {
            // SAFETY: recv into a valid buffer of buf.len() bytes.
            let n = unsafe {
                libc::recv(
                    self.sock.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_TRUNC,
                )
            };
            let e = std::io::Error::last_os_error();
            if n >= 0 || e.kind() != std::io::ErrorKind::Interrupted {
                break usize::try_from(n).map_err(|_| self.failed("read its answer", e))?;
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let data = buf.get(..n).ok_or_else(|| Error::Criu {
            what: "answer".into(),
            reason: format!("a message of {n} bytes, more than {MAX_MESSAGE}"),
            log: self.log.clone(),
        })?;
        Response::decode(data).map(Some).map_err(|e| Error::Criu {
            what: "answer".into(),
            reason: format!("malformed message: {e}"),
            log: self.log.clone(),
        })
    }

    fn failed(&self, what: &str, e: std::io::Error) -> Error {
        Error::Criu {
            what: what.into(),
            reason: e.to_string(),
            log: self.log.clone(),
        }
    }

    /// Sends `req` and answers each notification with `on_notify`'s success until the
    /// final response, which is returned whether it reports success or not. A failed
    /// notification handler is told to CRIU (which then gives up) and its error returned.
    /// CRIU is waited for in every case.
    pub fn call(
        self,
        req: &Request,
        on_notify: impl FnMut(&Notify) -> Result<(), Error>,
    ) -> Result<Response, Error> {
        let result = self.converse(req, on_notify);
        let Swrk {
            mut child, sock, ..
        } = self;
        // CRIU exits once its end reads end of file.
        drop(sock);
        let _ = child.wait();
        result
    }

    fn converse(
        &self,
        req: &Request,
        mut on_notify: impl FnMut(&Notify) -> Result<(), Error>,
    ) -> Result<Response, Error> {
        self.send(req)?;
        loop {
            let Some(resp) = self.recv()? else {
                return Err(self.failed(
                    "exited without an answer",
                    std::io::Error::from_raw_os_error(libc::EPIPE),
                ));
            };
            let Some(notify) = resp.notify.as_ref().filter(|_| resp.kind == 6) else {
                return Ok(resp);
            };
            let handled = on_notify(notify);
            self.send(&Request {
                kind: RequestType::Notify,
                opts: None,
                notify_success: handled.is_ok(),
            })?;
            // CRIU gives up on a failed notification; its answer adds nothing to ours.
            handled?;
        }
    }
}
