//! The effects of the systemd cgroup driver (`--systemd-cgroup`): starting a container's
//! unit, updating and stopping it. The plan decides which unit (`plan/systemd.rs`).
//!
//! systemd starts a scope only with a process in it, and the init must be *born* in its
//! cgroup (`CLONE_INTO_CGROUP`, see `launch.rs`), so the scope is started around a
//! placeholder: a child that only waits to be killed. Once the init is in the cgroup the
//! placeholder goes, and the scope lives on with the container's processes.

use iso_cgroups::{Cgroup, Layout, Pids, Resources, Systemd, SystemdUnit};
use iso_ns::{NamespaceSet, Spawn};

use crate::Error;

/// A started unit, with its placeholder until [`Started::placeholder_done`].
#[derive(Debug)]
pub(crate) struct Started {
    systemd: Systemd,
    unit: SystemdUnit,
    placeholder: Option<iso_ns::Child>,
}

/// Starts `unit` with `resources` as its properties and waits for systemd's job. On failure
/// the unit is stopped and reset: nothing is left.
///
/// The caller is single-threaded (the placeholder is a copy of it).
pub(crate) fn start(
    unit: &SystemdUnit,
    resources: Option<&Resources>,
    layout: &Layout,
) -> Result<Started, Error> {
    let systemd = Systemd::connect()?;
    let placeholder = if unit.is_slice() {
        None
    } else {
        Some(spawn_placeholder()?)
    };
    let pid = placeholder.as_ref().map(iso_ns::Child::pid);
    let mut started = Started {
        systemd,
        unit: unit.clone(),
        placeholder,
    };
    let none = Resources::default();
    let resources = resources.unwrap_or(&none);
    if let Err(e) = started.systemd.start(unit, pid, resources, layout) {
        started.stop();
        return Err(e.into());
    }
    Ok(started)
}

/// A child that sleeps until it is killed (or its parent dies).
fn spawn_placeholder() -> Result<iso_ns::Child, Error> {
    // SAFETY: create runs single-threaded; the child only makes system calls.
    Ok(unsafe { Spawn::new(NamespaceSet::default()).run(wait_to_be_killed) }?)
}

/// The placeholder's life: `pause` until SIGKILL, which also comes if its parent dies.
fn wait_to_be_killed() -> i32 {
    // SAFETY: prctl and pause take plain integers and touch no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        loop {
            libc::pause();
        }
    }
}

impl Started {
    /// Removes the placeholder once the init is in the unit's cgroup `cg`, and applies the
    /// pids limit it was in the way of (the plan's `deferred_pids`) to the unit and the
    /// cgroup file (if the container has one: rootless, it may have none).
    pub fn placeholder_done(
        &mut self,
        cg: Option<&Cgroup>,
        layout: &Layout,
        deferred_pids: Option<Pids>,
    ) -> Result<(), Error> {
        if let Some(mut child) = self.placeholder.take() {
            child.kill(libc::SIGKILL)?;
            child.wait()?;
        }
        if let Some(pids) = deferred_pids {
            let r = Resources {
                pids: Some(pids),
                ..Resources::default()
            };
            self.systemd.set(&self.unit, &r, layout)?;
            if let Some(cg) = cg {
                cg.apply(&r)?;
            }
        }
        Ok(())
    }

    /// Stops the unit (after a failed create): its processes are killed by systemd.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.placeholder.take() {
            let _ = child.kill(libc::SIGKILL);
            let _ = child.wait();
        }
        let _ = self.systemd.stop(&self.unit);
    }
}

/// `update` of a systemd-managed container: the properties systemd owns, then (by the
/// caller) the cgroup files.
pub(crate) fn update(
    unit: &SystemdUnit,
    resources: &Resources,
    layout: &Layout,
) -> Result<(), Error> {
    Ok(Systemd::connect()?.set(unit, resources, layout)?)
}

/// `delete` of a systemd-managed container: stops and resets its unit.
pub(crate) fn stop(unit: &SystemdUnit) -> Result<(), Error> {
    Ok(Systemd::connect()?.stop(unit)?)
}
