//! The terminal of `run` and `exec -t` without `--console-socket`, as runc does it: the
//! runtime takes the pty master itself (through a console socket of its own, which the
//! container's init sends it to like to any other) and a forked relay process copies
//! between the caller's stdio and the master until the container's side is closed,
//! forwarding window size changes. The runtime process itself stays single-threaded (a
//! container is cloned from it), so the relay is a process, forked before.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use iso_runtime::Error;

fn io_error(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
    Error::Io {
        op,
        path: path.into(),
        source,
    }
}

/// A relay process and what it needs undone: the caller's terminal mode, the socket file.
pub(crate) struct Relay {
    pid: libc::pid_t,
    socket: PathBuf,
    saved: Option<libc::termios>,
    /// Readable (one byte) once the relay holds the master and sized it.
    ready: std::fs::File,
    /// Whether the container's process ran: else the relay is ended at once.
    finished: bool,
}

/// Set by SIGWINCH in the relay process.
static WINCH: AtomicBool = AtomicBool::new(false);

extern "C" fn on_winch(_: libc::c_int) {
    WINCH.store(true, Ordering::SeqCst);
}

impl Relay {
    /// Binds a console socket under `dir` and forks the relay, which waits for the pty
    /// master on it. The pty gets the caller's terminal's size, or `size`
    /// (`process.consoleSize`: rows, columns) when the caller has no terminal. Returns the relay and the socket path to
    /// give as the console socket.
    pub(crate) fn start(dir: &Path, size: Option<(u16, u16)>) -> Result<(Relay, PathBuf), Error> {
        std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
        let socket = dir.join(format!(".console-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket).map_err(|e| io_error("bind", &socket, e))?;
        let mut ends = [0; 2];
        // SAFETY: pipe2 writes two descriptors into a valid array.
        if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io_error(
                "pipe2",
                "(terminal relay)",
                io::Error::last_os_error(),
            ));
        }
        // SAFETY: two fresh descriptors we own.
        let (ready, ready_write) = unsafe {
            (
                std::fs::File::from_raw_fd(ends[0]),
                std::fs::File::from_raw_fd(ends[1]),
            )
        };
        let saved = raw_mode(io::stdin().as_fd());
        // SAFETY: fork in a single-threaded process (the runtime binary); the child only
        // relays and exits with _exit.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            restore(saved.as_ref());
            return Err(io_error(
                "fork",
                "(terminal relay)",
                io::Error::last_os_error(),
            ));
        }
        if pid == 0 {
            drop(ready);
            let code = i32::from(relay_process(&listener, size, ready_write).is_err());
            // SAFETY: ends the relay process without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        drop(listener);
        drop(ready_write);
        Ok((
            Relay {
                pid,
                socket: socket.clone(),
                saved,
                ready,
                finished: false,
            },
            socket,
        ))
    }

    /// Waits (at most ten seconds) until the relay holds the pty master and sized it: the
    /// container's program must not start before.
    pub(crate) fn wait_ready(&mut self) {
        let mut byte = [0u8; 1];
        let mut fds = libc::pollfd {
            fd: self.ready.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one valid pollfd.
        if unsafe { libc::poll(&mut fds, 1, 10_000) } == 1 {
            let _ = io::Read::read(&mut self.ready, &mut byte);
        }
    }

    /// Waits for the relay to copy what the container wrote (it ends when the pty's other
    /// side is closed), at most two seconds, then ends it.
    pub(crate) fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let wait = if self.finished { 2 } else { 0 };
        let deadline = Instant::now() + Duration::from_secs(wait);
        loop {
            let mut status = 0;
            // SAFETY: waitpid on our own child with a valid status pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            if r != 0 {
                break;
            }
            if Instant::now() > deadline {
                // SAFETY: kill and reap our own child.
                unsafe {
                    libc::kill(self.pid, libc::SIGKILL);
                    libc::waitpid(self.pid, &mut status, 0);
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        restore(self.saved.as_ref());
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Puts the caller's terminal in raw mode (when stdin is one); returns its previous mode.
fn raw_mode(fd: BorrowedFd<'_>) -> Option<libc::termios> {
    // SAFETY: tcgetattr/tcsetattr on a descriptor with valid termios pointers.
    unsafe {
        let mut saved: libc::termios = std::mem::zeroed();
        if libc::isatty(fd.as_raw_fd()) != 1 || libc::tcgetattr(fd.as_raw_fd(), &mut saved) != 0 {
            return None;
        }
        let mut raw = saved;
        libc::cfmakeraw(&mut raw);
        libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &raw);
        Some(saved)
    }
}

fn restore(saved: Option<&libc::termios>) {
    if let Some(t) = saved {
        // SAFETY: tcsetattr on stdin with a valid termios.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
    }
}

/// The relay process: receives the master, sets its size, copies until it reads EIO/EOF.
fn relay_process(
    listener: &UnixListener,
    size: Option<(u16, u16)>,
    mut ready: std::fs::File,
) -> io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
        // SAFETY: ignoring signals in this process: the runtime forwards them.
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }
    let (conn, _) = listener.accept()?;
    let mut name = [0u8; 256];
    let (master, _) = iso_seccomp::notify::recv_fd(conn.as_fd(), &mut name)
        .map_err(|e| io::Error::other(e.to_string()))?;
    // The caller's terminal's size, as runc; `consoleSize` when the caller has none.
    if !copy_size(&master) {
        if let Some((rows, cols)) = size {
            set_size(&master, rows, cols);
        }
    }
    io::Write::write_all(&mut ready, b"r")?;
    drop(ready);
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe { libc::signal(libc::SIGWINCH, on_winch as *const () as libc::sighandler_t) };
    copy_loop(&master)
}

fn set_size(master: &OwnedFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
    unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
}

/// The caller's terminal size onto the pty; false when stdin is not a terminal.
fn copy_size(master: &OwnedFd) -> bool {
    // SAFETY: TIOCGWINSZ writes a winsize to a valid pointer.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } != 0 {
        return false;
    }
    set_size(master, ws.ws_row, ws.ws_col);
    true
}

/// Copies stdin → master and master → stdout until the master reads end of file or EIO
/// (every descriptor of the pty's other side closed).
fn copy_loop(master: &OwnedFd) -> io::Result<()> {
    let mut stdin_open = true;
    let mut buf = [0u8; 8192];
    loop {
        if WINCH.swap(false, Ordering::SeqCst) {
            let _ = copy_size(master);
        }
        let mut fds = [
            libc::pollfd {
                fd: master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if stdin_open { 0 } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll on a valid array of two pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, 250) };
        if n < 0 {
            continue;
        }
        if fds[0].revents != 0 {
            match read(master.as_raw_fd(), &mut buf) {
                Ok(0) | Err(_) => return Ok(()),
                Ok(n) => write_all(1, &buf[..n])?,
            }
        }
        if stdin_open && fds[1].revents != 0 {
            match read(0, &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => write_all(master.as_raw_fd(), &buf[..n])?,
            }
        }
    }
}

fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: read into a valid buffer of buf.len() bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

fn write_all(fd: RawFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: write from a valid buffer of data.len() bytes.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        data = &data[n as usize..];
    }
    Ok(())
}

/// The caller's terminal's size (rows, columns), when stdin is a terminal.
pub(crate) fn caller_size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ writes a winsize to a valid pointer.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } != 0 {
        return None;
    }
    Some((ws.ws_row, ws.ws_col))
}
