//! Applying a prepared jail to a child started by [`std::process::Command`].

use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::error::{Error, Failure, Step};
use super::prepared::{Mode, PreparedJail};
use super::sys;

/// Starts a [`Command`] inside a [`PreparedJail`].
///
/// ```no_run
/// use std::process::Command;
/// use iso::jail::{CommandJailExt, Jail};
///
/// let prepared = Jail::new().user(65534, 65534).prepare()?;
/// let out = Command::new("/usr/bin/id").spawn_jailed(prepared)?.wait_with_output();
/// # Ok::<(), iso::jail::Error>(())
/// ```
pub trait CommandJailExt {
    /// Spawns the command with the jail applied between `fork` and `execve` (only
    /// async-signal-safe work happens there; see the [module docs](crate::jail) for the
    /// order).
    ///
    /// The jail applies to this spawn only: the hook it installs is disarmed afterwards, so
    /// a later `spawn` of the same command runs unjailed unless given a new jail (the
    /// prepared jail's memory and descriptors are released when the command is dropped).
    /// If a step fails, the
    /// child exits before `execve` (the program never runs) and the error names the step,
    /// the operation and the errno ([`Error::Step`]). If the jail succeeded but `execve`
    /// failed (say, the program does not exist inside the new root) the step is
    /// [`Step::Exec`].
    ///
    /// ```no_run
    /// use std::process::Command;
    /// use iso::jail::{CommandJailExt, Jail, Step};
    ///
    /// // A root directory without /bin/true: the jail works, execve does not.
    /// let prepared = Jail::new().chroot("/var/empty").prepare()?;
    /// let err = Command::new("/bin/true").spawn_jailed(prepared).unwrap_err();
    /// assert_eq!(err.step(), Step::Exec);
    /// # Ok::<(), iso::jail::Error>(())
    /// ```
    fn spawn_jailed(&mut self, jail: PreparedJail) -> Result<Child, Error>;
}

impl CommandJailExt for Command {
    fn spawn_jailed(&mut self, jail: PreparedJail) -> Result<Child, Error> {
        let labels = jail.labels();
        let program = self.get_program().to_string_lossy().into_owned();
        let (report_read, report_write) = report_pipe()?;
        let report_fd = report_write.as_raw_fd();
        let mut slot = Some(jail);
        let armed = Arc::new(AtomicBool::new(true));
        let armed_in_hook = Arc::clone(&armed);
        let hook = move || -> io::Result<()> {
            if !armed_in_hook.load(Ordering::SeqCst) {
                // A later spawn of the same command: this jail was for an earlier one.
                return Ok(());
            }
            // In the child: the jail is this process' copy; take it.
            let Some(mut jail) = slot.take() else {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            };
            match jail.run(Mode::BeforeExec) {
                Ok(()) => {
                    // Do not run the destructors (they would close descriptors that
                    // execve closes anyway, and may not be async-signal-safe).
                    std::mem::forget(jail);
                    Ok(())
                }
                Err(failure) => {
                    let _ = sys::write_all(report_fd, &failure.to_wire());
                    std::mem::forget(jail);
                    Err(io::Error::from_raw_os_error(failure.errno))
                }
            }
        };
        // SAFETY: the hook runs between fork and execve and does only async-signal-safe
        // work: the prepared steps (raw system calls on prepared data) and a write(2) to
        // the report pipe. io::Error::from_raw_os_error does not allocate.
        unsafe {
            self.pre_exec(hook);
        }
        let spawned = self.spawn();
        armed.store(false, Ordering::SeqCst);
        // Every child that could write has exec'd or exited; with our write end gone the
        // read ends at end-of-file.
        drop(report_write);
        let mut buf = [0u8; Failure::WIRE_LEN];
        let mut got = 0;
        let mut file = std::fs::File::from(report_read);
        while got < buf.len() {
            match file.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let failure = Failure::from_wire(&buf[..got]);
        match (spawned, failure) {
            (Ok(child), None) => Ok(child),
            (Ok(mut child), Some(f)) => {
                // Cannot happen (a failing hook fails the spawn); never leave it running.
                let _ = child.kill();
                let _ = child.wait();
                Err(labels.error(f))
            }
            (Err(_), Some(f)) => Err(labels.error(f)),
            (Err(source), None) => Err(Error::Step {
                step: Step::Exec,
                operation: "fork/execve",
                target: program,
                source,
            }),
        }
    }
}

/// A close-on-exec pipe: the child reports a failed step on it; `execve` closes it.
fn report_pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(Error::Prepare {
            step: Step::Exec,
            operation: "pipe2",
            path: "report pipe".into(),
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: pipe2 just returned both descriptors; nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
