//! The pause program: PID 1 of the pod sandbox image in the CRI scenario. Sleeps until SIGTERM,
//! SIGINT or SIGKILL (as PID 1 of a PID namespace it has to handle TERM/INT itself: the kernel
//! ignores signals that PID 1 has no handler for). Built statically, so the image needs no libc.

fn main() -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    })
}
