//! Seccomp user notification: a supervisor answers a process's system calls.
//!
//! A filter rule with [`Action::Notify`](crate::Action::Notify) suspends the calling
//! thread and queues a notification on the listener fd that loading the filter returned.
//! The supervisor (another process, which got the fd through [`send_fd`]) receives it
//! with [`Listener::recv`], may read the caller's memory with [`Listener::read_memory`],
//! and answers with [`Listener::respond`]: a return value, an errno, or
//! [`Response::Continue`] (run the call as it is).
//!
//! **TOCTOU**: the target's memory can change after the supervisor read it (another
//! thread rewrites the path). Never answer `Continue` based on pointer contents for a
//! security decision; emulate the call instead. And the target may die and its pid be
//! reused: [`Listener::read_memory`] checks `SECCOMP_IOCTL_NOTIF_ID_VALID` after reading,
//! so data it returns came from the process that made the call.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use iso_sys::Pid;

use crate::compile::errno;
use crate::error::{Error, Result};
use crate::profile::Arch;

/// One suspended system call waiting for an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// The notification id; answer with it.
    pub id: u64,
    /// The calling thread, in the supervisor's pid namespace view of the listener.
    pub pid: Pid,
    /// The syscall number for [`Request::arch`].
    pub syscall: i32,
    /// The caller's audit architecture (`AUDIT_ARCH_*`).
    pub audit_arch: u32,
    /// The caller's instruction pointer.
    pub instruction_pointer: u64,
    /// The six argument registers.
    pub args: [u64; 6],
}

impl Request {
    /// The caller's architecture, when known.
    ///
    /// ```no_run
    /// # fn f(req: iso_seccomp::notify::Request) {
    /// println!("{:?}", req.arch());
    /// # }
    /// ```
    pub fn arch(&self) -> Option<Arch> {
        Arch::from_audit(self.audit_arch)
    }

    /// The syscall's name, resolved for the caller's architecture by libseccomp.
    ///
    /// ```no_run
    /// # fn f(req: iso_seccomp::notify::Request) {
    /// if req.syscall_name().as_deref() == Some("mkdir") { /* ... */ }
    /// # }
    /// ```
    pub fn syscall_name(&self) -> Option<String> {
        let arch = self.arch().unwrap_or(Arch::Native).to_scmp();
        libseccomp::ScmpSyscall::from(self.syscall)
            .get_name_by_arch(arch)
            .ok()
    }
}

/// The answer to a [`Request`].
///
/// ```
/// use iso_seccomp::notify::Response;
/// let r = Response::Errno(libc::EACCES);
/// assert_ne!(r, Response::Continue);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// The call returns this value without running.
    Value(i64),
    /// The call fails with this (positive) errno without running.
    Errno(i32),
    /// The call runs as the caller made it (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`); see the
    /// module's TOCTOU note.
    Continue,
}

/// The supervisor's end: a seccomp listener fd.
///
/// ```no_run
/// use iso_seccomp::notify::{Listener, Response};
/// # fn serve(fd: std::os::fd::OwnedFd) -> Result<(), iso_seccomp::Error> {
/// let listener = Listener::from_fd(fd);
/// loop {
///     let req = listener.recv()?;
///     let path = listener.read_c_string(&req, req.args[0], 4096)?;
///     println!("mkdir {:?}", String::from_utf8_lossy(&path));
///     listener.respond(req.id, Response::Errno(libc::EROFS))?;
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
}

impl Listener {
    /// Wraps a listener fd (from [`crate::Filter::load`], [`crate::BpfProgram::load`] or
    /// [`recv_fd`]).
    ///
    /// ```no_run
    /// # fn f(fd: std::os::fd::OwnedFd) {
    /// let l = iso_seccomp::notify::Listener::from_fd(fd);
    /// # }
    /// ```
    pub fn from_fd(fd: OwnedFd) -> Self {
        Listener { fd }
    }

    /// Gives the fd back.
    ///
    /// ```no_run
    /// # fn f(l: iso_seccomp::notify::Listener) {
    /// let fd: std::os::fd::OwnedFd = l.into_fd();
    /// # }
    /// ```
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Waits for the next notification (`SECCOMP_IOCTL_NOTIF_RECV`), retrying on `EINTR`.
    ///
    /// Fails with `ENOENT` when the caller was interrupted before the notification was
    /// received; callers usually loop.
    ///
    /// ```no_run
    /// # fn f(l: &iso_seccomp::notify::Listener) -> Result<(), iso_seccomp::Error> {
    /// let req = l.recv()?;
    /// println!("pid {} made syscall {}", req.pid, req.syscall);
    /// # Ok(()) }
    /// ```
    pub fn recv(&self) -> Result<Request> {
        loop {
            // SAFETY: seccomp_notif is plain data; the kernel requires it zeroed.
            let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
            // SAFETY: the fd is a listener; n is a valid seccomp_notif for the kernel to fill.
            let rc = unsafe {
                libc::ioctl(
                    self.fd.as_raw_fd(),
                    libc::SECCOMP_IOCTL_NOTIF_RECV as _,
                    &mut n as *mut libc::seccomp_notif,
                )
            };
            if rc < 0 {
                let e = errno();
                if e == libc::EINTR {
                    continue;
                }
                return Err(Error::sys("ioctl(SECCOMP_IOCTL_NOTIF_RECV)", "listener", e));
            }
            let pid = Pid::from_raw(n.pid as i32)
                .ok_or_else(|| Error::sys("ioctl(SECCOMP_IOCTL_NOTIF_RECV)", "pid", libc::ESRCH))?;
            return Ok(Request {
                id: n.id,
                pid,
                syscall: n.data.nr,
                audit_arch: n.data.arch,
                instruction_pointer: n.data.instruction_pointer,
                args: n.data.args,
            });
        }
    }

    /// Whether the notification `id` is still pending (`SECCOMP_IOCTL_NOTIF_ID_VALID`):
    /// false once the caller died or was interrupted.
    ///
    /// ```no_run
    /// # fn f(l: &iso_seccomp::notify::Listener, id: u64) -> Result<(), iso_seccomp::Error> {
    /// if !l.id_valid(id)? { return Ok(()); }
    /// # Ok(()) }
    /// ```
    pub fn id_valid(&self, id: u64) -> Result<bool> {
        let mut id = id;
        // SAFETY: the kernel reads one u64 through the pointer.
        let rc = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID as _,
                &mut id as *mut u64,
            )
        };
        if rc == 0 {
            return Ok(true);
        }
        match errno() {
            libc::ENOENT => Ok(false),
            e => Err(Error::sys("ioctl(SECCOMP_IOCTL_NOTIF_ID_VALID)", "id", e)),
        }
    }

    /// Reads the caller's memory at `addr` into `buf` with `process_vm_readv(2)`, then
    /// checks that the notification is still valid, so the bytes came from the caller and
    /// not from a process that reused its pid. Returns the number of bytes read (fewer than
    /// `buf.len()` when the range crosses into unmapped memory).
    ///
    /// ```no_run
    /// # fn f(l: &iso_seccomp::notify::Listener, req: &iso_seccomp::notify::Request)
    /// #     -> Result<(), iso_seccomp::Error> {
    /// let mut buf = [0u8; 64];
    /// let n = l.read_memory(req, req.args[1], &mut buf)?;
    /// # Ok(()) }
    /// ```
    pub fn read_memory(&self, req: &Request, addr: u64, buf: &mut [u8]) -> Result<usize> {
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let remote = libc::iovec {
            iov_base: addr as usize as *mut libc::c_void,
            iov_len: buf.len(),
        };
        // SAFETY: local describes buf, which we borrow mutably; the kernel checks remote.
        let n = unsafe { libc::process_vm_readv(req.pid.as_raw(), &local, 1, &remote, 1, 0) };
        if n < 0 {
            let e = errno();
            if !self.id_valid(req.id)? {
                return Err(Error::NotificationGone { id: req.id });
            }
            return Err(Error::sys("process_vm_readv", "target memory", e));
        }
        if !self.id_valid(req.id)? {
            return Err(Error::NotificationGone { id: req.id });
        }
        Ok(n as usize)
    }

    /// Reads a NUL-terminated string (a path argument) of at most `max_len` bytes from the
    /// caller's memory; returns it without the NUL. Reads page by page, so a string that
    /// ends just before unmapped memory is still read.
    ///
    /// ```no_run
    /// # fn f(l: &iso_seccomp::notify::Listener, req: &iso_seccomp::notify::Request)
    /// #     -> Result<(), iso_seccomp::Error> {
    /// let path = l.read_c_string(req, req.args[0], libc::PATH_MAX as usize)?;
    /// # Ok(()) }
    /// ```
    pub fn read_c_string(&self, req: &Request, addr: u64, max_len: usize) -> Result<Vec<u8>> {
        const PAGE: u64 = 4096;
        let mut out = Vec::new();
        let mut at = addr;
        while out.len() < max_len {
            // Never cross a page boundary in one read: the next page may be unmapped.
            let room = (PAGE - at % PAGE) as usize;
            let mut chunk = vec![0u8; room.min(max_len - out.len())];
            let n = self.read_memory(req, at, &mut chunk)?;
            if n == 0 {
                return Err(Error::sys(
                    "process_vm_readv",
                    "target string",
                    libc::EFAULT,
                ));
            }
            if let Some(end) = chunk[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..end]);
                return Ok(out);
            }
            out.extend_from_slice(&chunk[..n]);
            at += n as u64;
        }
        Err(Error::sys(
            "read_c_string",
            "target string",
            libc::ENAMETOOLONG,
        ))
    }

    /// Answers notification `id` (`SECCOMP_IOCTL_NOTIF_SEND`). Fails with `ENOENT` when
    /// the caller is gone.
    ///
    /// ```no_run
    /// # use iso_seccomp::notify::{Listener, Response};
    /// # fn f(l: &Listener, id: u64) -> Result<(), iso_seccomp::Error> {
    /// l.respond(id, Response::Value(0))?; // pretend success
    /// # Ok(()) }
    /// ```
    pub fn respond(&self, id: u64, response: Response) -> Result<()> {
        let (val, error, flags) = match response {
            Response::Value(v) => (v, 0, 0),
            Response::Errno(e) => (0, -e.abs(), 0),
            Response::Continue => (0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32),
        };
        let mut resp = libc::seccomp_notif_resp {
            id,
            val,
            error,
            flags,
        };
        // SAFETY: resp is a valid seccomp_notif_resp the kernel reads.
        let rc = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND as _,
                &mut resp as *mut libc::seccomp_notif_resp,
            )
        };
        if rc < 0 {
            return Err(Error::sys(
                "ioctl(SECCOMP_IOCTL_NOTIF_SEND)",
                "response",
                errno(),
            ));
        }
        Ok(())
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Space for one fd in a control message, aligned for `cmsghdr`.
#[repr(C)]
union CmsgSpace {
    _align: libc::cmsghdr,
    buf: [u8; 64],
}

/// Sends `fd` over a unix socket with `SCM_RIGHTS`, with `payload` as the data (a single
/// NUL byte when empty: ancillary data needs at least one data byte).
///
/// Async-signal-safe (no allocation): a container's init may send its listener right
/// after loading the filter. A runtime uses it for the OCI `listenerPath`, with the
/// container state JSON as payload.
///
/// ```
/// use std::os::fd::AsFd;
/// use std::os::unix::net::UnixStream;
/// use iso_seccomp::notify::{recv_fd, send_fd};
///
/// let (a, b) = UnixStream::pair().unwrap();
/// let file = std::fs::File::open("/dev/null").unwrap();
/// send_fd(a.as_fd(), file.as_fd(), b"hello").unwrap();
/// let mut buf = [0u8; 16];
/// let (fd, n) = recv_fd(b.as_fd(), &mut buf).unwrap();
/// assert_eq!(&buf[..n], b"hello");
/// drop(fd);
/// ```
pub fn send_fd(socket: BorrowedFd<'_>, fd: BorrowedFd<'_>, payload: &[u8]) -> Result<()> {
    let nul = [0u8; 1];
    let data = if payload.is_empty() {
        &nul[..]
    } else {
        payload
    };
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let mut space = CmsgSpace { buf: [0; 64] };
    // SAFETY: CMSG_SPACE is a pure computation.
    let cmsg_space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    // SAFETY: the union's buf is 64 bytes, more than cmsg_space (24 on 64-bit).
    msg.msg_control = unsafe { space.buf.as_mut_ptr() }.cast();
    msg.msg_controllen = cmsg_space as _;
    // SAFETY: msg_control points at cmsg_space bytes aligned for cmsghdr, so the first
    // header and its data fit.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd.as_raw_fd());
    }
    loop {
        // SAFETY: msg and everything it points to live until the call returns.
        let n = unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(());
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(Error::sys("sendmsg(SCM_RIGHTS)", "socket", e));
        }
    }
}

/// Receives an fd sent with [`send_fd`] and the payload that came with it (into `buf`);
/// the fd is close-on-exec.
///
/// ```
/// # use std::os::fd::AsFd;
/// # use std::os::unix::net::UnixStream;
/// # use iso_seccomp::notify::{recv_fd, send_fd};
/// let (a, b) = UnixStream::pair().unwrap();
/// send_fd(a.as_fd(), a.as_fd(), b"").unwrap();
/// let mut buf = [0u8; 4];
/// let (_fd, n) = recv_fd(b.as_fd(), &mut buf).unwrap();
/// assert_eq!(n, 1);
/// ```
pub fn recv_fd(socket: BorrowedFd<'_>, buf: &mut [u8]) -> Result<(OwnedFd, usize)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut space = CmsgSpace { buf: [0; 64] };
    // SAFETY: msghdr is plain data.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    // SAFETY: taking a pointer to the union's byte view.
    msg.msg_control = unsafe { space.buf.as_mut_ptr() }.cast();
    msg.msg_controllen = 64;
    let n = loop {
        // SAFETY: msg describes buffers we own for the duration of the call.
        let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(Error::sys("recvmsg(SCM_RIGHTS)", "socket", e));
        }
    };
    // SAFETY: the kernel filled msg_control; CMSG_FIRSTHDR/CMSG_DATA walk within it.
    let received = unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
        {
            None
        } else {
            Some(std::ptr::read_unaligned(
                libc::CMSG_DATA(cmsg).cast::<RawFd>(),
            ))
        }
    };
    match received {
        // SAFETY: SCM_RIGHTS installed a new fd in this process; we own it.
        Some(raw) if raw >= 0 => Ok((unsafe { OwnedFd::from_raw_fd(raw) }, n)),
        _ => Err(Error::sys(
            "recvmsg(SCM_RIGHTS)",
            "control message",
            libc::EBADMSG,
        )),
    }
}

/// Connects to the unix socket at `path` and sends `fd` with `payload`, what a runtime
/// does with the listener fd for the OCI `listenerPath` (payload: the state JSON).
///
/// ```no_run
/// # fn f(listener: std::os::fd::OwnedFd, state_json: &[u8]) -> Result<(), iso_seccomp::Error> {
/// use std::os::fd::AsFd;
/// iso_seccomp::notify::send_fd_to_path("/run/agent.sock", listener.as_fd(), state_json)?;
/// # Ok(()) }
/// ```
pub fn send_fd_to_path(path: impl AsRef<Path>, fd: BorrowedFd<'_>, payload: &[u8]) -> Result<()> {
    let stream =
        UnixStream::connect(path.as_ref()).map_err(|source: io::Error| Error::Syscall {
            operation: "connect",
            field: "listenerPath",
            source,
        })?;
    send_fd(stream.as_fd(), fd, payload)
}
