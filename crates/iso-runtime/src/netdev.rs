//! `linux.netDevices`, the effects: `create` moves the planned devices into the container's
//! network namespace (renamed, up, permanent addresses kept; see [`iso_ns::netdev`]) before
//! the runtime's hooks run, and `delete` moves them back under their host names, down.
//!
//! A network namespace ends with its last process (or bind mount, or descriptor): the kernel
//! then returns physical devices to the *initial* namespace and destroys virtual ones (veth,
//! macvlan). So the way back goes through a namespace that is alive: `create` undoes its
//! moves before it kills a failed init, and pins a new namespace with a bind mount in the
//! container's state directory (`ContainerDir::pin_netns`, removed by `delete` after the way
//! back). `delete` moves the devices back through the init's namespace while it lives, else
//! through the pin, or the path of a namespace joined by path (a pod's, kept by whoever made
//! it). Only where the pin is not visible (another mount namespace) has the namespace ended
//! with the container: `delete` warns.

use std::path::Path;

use iso_ns::netdev::{move_device, LinkState, RouteSocket};
use iso_ns::{Namespace, NsFd};
use iso_sys::{Pid, ProcPid};

use crate::plan::NetDevice;
use crate::Error;

/// Devices moved into a container's network namespace, and that namespace.
#[derive(Debug)]
pub(crate) struct Moved {
    netns: NsFd,
    devices: Vec<NetDevice>,
}

impl Moved {
    /// Moves `devices` into the container's network namespace: the one `joined` names, or
    /// else the new one of `init` (a joined one the init enters only after the handshake).
    /// On failure, the devices moved so far are moved back, and the error names the entry
    /// of `linux.netDevices`.
    pub fn into_container(
        init: Pid,
        joined: Option<&Path>,
        devices: &[NetDevice],
        config: &Path,
    ) -> Result<Moved, Error> {
        let netns = match joined {
            Some(path) => NsFd::open_kind(path, Namespace::Net)?,
            None => NsFd::of_process(ProcPid::Pid(init), Namespace::Net)?,
        };
        let mut moved = Moved {
            netns,
            devices: Vec::with_capacity(devices.len()),
        };
        // A namespace joined by path may be the runtime's own: nothing to move into.
        let own = NsFd::of_process(ProcPid::SelfPid, Namespace::Net)?;
        if moved.netns.id()? == own.id()? {
            return Err(Error::ConfigValue {
                path: config.to_path_buf(),
                field: "linux.netDevices".into(),
                reason: "the container's network namespace (joined by path) is the runtime's \
                         own: there is nowhere to move the devices"
                    .into(),
            });
        }
        for dev in devices {
            let step = dev.names().and_then(|(host, container)| {
                move_device(None, &host, &moved.netns, &container, LinkState::Up)
            });
            if let Err(e) = step {
                moved.back();
                return Err(Error::ConfigValue {
                    path: config.to_path_buf(),
                    field: format!("linux.netDevices[{:?}]", dev.host),
                    reason: format!("cannot move it into the container: {e}"),
                });
            }
            moved.devices.push(dev.clone());
        }
        Ok(moved)
    }

    /// What was moved, for the record.
    pub fn devices(&self) -> &[NetDevice] {
        &self.devices
    }

    /// The network namespace they were moved into.
    pub fn netns(&self) -> &NsFd {
        &self.netns
    }

    /// Moves every device back to the runtime's network namespace under its host name,
    /// down; failures are warnings (the caller is undoing or deleting). Returns whether all
    /// came back.
    pub fn back(&mut self) -> bool {
        let here = match NsFd::of_process(ProcPid::SelfPid, Namespace::Net) {
            Ok(ns) => ns,
            Err(e) => {
                eprintln!("warning: linux.netDevices: cannot move devices back: {e}");
                return false;
            }
        };
        let mut all = true;
        for dev in self.devices.drain(..).rev() {
            let step = dev.names().and_then(|(host, container)| {
                move_device(Some(&self.netns), &container, &here, &host, LinkState::Down)
            });
            if let Err(e) = step {
                eprintln!(
                    "warning: linux.netDevices[{:?}]: not moved back: {e}",
                    dev.host
                );
                all = false;
            }
        }
        all
    }
}

/// `delete`: moves the recorded devices back from the network namespace they were moved
/// into: the one of `init` while it still runs, or the one `joined` names (a pod's, which
/// outlives the container). Otherwise warns about the ones that are not back in the
/// runtime's namespace (the namespace ended and the kernel kept or destroyed them: see the
/// module's documentation).
pub(crate) fn back_for_delete(init: Option<Pid>, joined: Option<&Path>, devices: &[NetDevice]) {
    // Those already home (`run` moved them back) are left alone: delete may repeat.
    let mut here = RouteSocket::open().ok();
    let mut is_home = |dev: &NetDevice| match (&mut here, dev.names()) {
        (Some(sock), Ok((host, _))) => sock.link_index(&host).is_ok(),
        _ => false,
    };
    let away: Vec<NetDevice> = devices.iter().filter(|d| !is_home(d)).cloned().collect();
    if away.is_empty() {
        return;
    }
    let netns = match (init, joined) {
        (Some(pid), _) => Some(NsFd::of_process(ProcPid::Pid(pid), Namespace::Net)),
        (None, Some(path)) => Some(NsFd::open_kind(path, Namespace::Net)),
        (None, None) => None,
    };
    match netns {
        Some(Ok(netns)) => {
            Moved {
                netns,
                devices: away,
            }
            .back();
            return;
        }
        Some(Err(e)) => eprintln!("warning: linux.netDevices: {e}"),
        None => {}
    }
    for dev in away {
        eprintln!(
            "warning: linux.netDevices[{:?}]: the container's network namespace ended before \
             delete, and the device is not back in the runtime's (the kernel returns physical \
             devices to the initial namespace and destroys virtual ones)",
            dev.host
        );
    }
}
