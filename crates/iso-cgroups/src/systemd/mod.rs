//! The systemd cgroup driver: transient units through systemd's D-Bus API.
//!
//! On a host whose init is systemd, systemd owns the cgroup tree; a container's cgroup is a
//! transient `.scope` unit (holding the container's processes, `Delegate=yes` so that the
//! runtime may write its files) in a `.slice`. [`Systemd`] talks to the manager over its
//! private socket `/run/systemd/private` (root only; no bus daemon involved), blocking on
//! one socket: no threads are started, so a single-threaded caller stays single-threaded.

mod conn;
mod unit;
mod wire;

use std::path::Path;
use std::time::{Duration, Instant};

use iso_sys::Pid;

use crate::error::{Error, Result};
use crate::layout::Version;
use crate::resources::{DeviceKind, Resources};

use conn::{Connection, Message, Refused};
use unit::Property;
pub use unit::{systemd_slice_path, SystemdUnit};
use wire::Value;

/// systemd's private socket (root only).
pub const SYSTEMD_PRIVATE_SOCKET: &str = "/run/systemd/private";

/// How long a call, or a job, may take.
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";
const UNIT_EXISTS: &str = "org.freedesktop.systemd1.UnitExists";

/// A connection to systemd's manager.
///
/// ```no_run
/// use iso_cgroups::{Layout, Limit, Pids, Resources, Systemd, SystemdUnit};
/// let layout = Layout::detect()?;
/// let unit = SystemdUnit::new("system.slice", "iso-demo.scope")?;
/// let child = std::process::Command::new("sleep").arg("60").spawn().expect("spawn");
/// let pid = iso_sys::Pid::from_raw(child.id() as i32).expect("pid");
/// let limits = Resources { pids: Some(Pids { limit: Some(Limit::Value(33)) }), ..Resources::default() };
/// let mut systemd = Systemd::connect()?;
/// systemd.start(&unit, Some(pid), &limits, &layout)?;
/// println!("in {}", unit.cgroup_path());
/// systemd.stop(&unit)?;
/// # Ok::<(), iso_cgroups::Error>(())
/// ```
#[derive(Debug)]
pub struct Systemd {
    conn: Connection,
}

impl Systemd {
    /// Connects to [`SYSTEMD_PRIVATE_SOCKET`].
    ///
    /// ```no_run
    /// let systemd = iso_cgroups::Systemd::connect()?;
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn connect() -> Result<Systemd> {
        Systemd::connect_to(SYSTEMD_PRIVATE_SOCKET)
    }

    /// Connects to systemd's private socket at `path`.
    ///
    /// ```no_run
    /// let systemd = iso_cgroups::Systemd::connect_to("/run/systemd/private")?;
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn connect_to(path: impl AsRef<Path>) -> Result<Systemd> {
        Ok(Systemd {
            conn: Connection::open(path.as_ref())?,
        })
    }

    fn call(
        &mut self,
        member: &'static str,
        unit: &str,
        args: &[Value],
    ) -> Result<std::result::Result<Vec<Value>, Refused>> {
        let msg = Message::call(MANAGER_PATH, MANAGER, member, args);
        self.conn
            .call(&msg, Instant::now() + JOB_TIMEOUT)
            .map_err(|e| match e {
                Error::Dbus { path, reason } => Error::Dbus {
                    path,
                    reason: format!("{member} {unit}: {reason}"),
                },
                other => other,
            })
    }

    /// Calls `member` and waits for the job its reply names to finish with `done`.
    fn run_job(&mut self, member: &'static str, unit: &str, args: &[Value]) -> Result<()> {
        let until = Instant::now() + JOB_TIMEOUT;
        let reply = self
            .call(member, unit, args)?
            .map_err(|r| refused(member, unit, r))?;
        let Some(job) = reply.first().and_then(Value::as_str).map(str::to_owned) else {
            return Err(failed(member, unit, None, "the reply names no job"));
        };
        let removed = self
            .conn
            .signal("JobRemoved", until, |args| {
                args.get(1).and_then(Value::as_str) == Some(&job)
            })
            .map_err(|e| match e.errno() {
                Some(libc::ETIMEDOUT | libc::EAGAIN) => failed(
                    member,
                    unit,
                    None,
                    format!("job {job} did not finish in {JOB_TIMEOUT:?}"),
                ),
                _ => e,
            })?;
        match removed.get(3).and_then(Value::as_str) {
            Some("done") => Ok(()),
            result => Err(failed(
                member,
                unit,
                None,
                format!("job {job} finished with result {:?}", result.unwrap_or("?")),
            )),
        }
    }

    /// Starts `unit` as a transient unit: a scope holding `pid` (and `Delegate=yes`) in its
    /// slice, or a slice; with `resources` as properties where systemd owns them (`TasksMax`,
    /// `MemoryMax`/`MemoryLow`/`MemorySwapMax`, `CPUWeight`, `CPUQuotaPerSecUSec`,
    /// `CPUQuotaPeriodUSec`, `AllowedCPUs`/`AllowedMemoryNodes`, `IOWeight`,
    /// `DevicePolicy`/`DeviceAllow`; `MemoryLimit`, `CPUShares`, `BlockIOWeight` on v1 and
    /// hybrid hosts). Waits for the start job. A failed unit of the same name
    /// left by a crash is reset and the start tried once more.
    ///
    /// Only the properties are set here: write the cgroup files too (with
    /// [`Cgroup::apply`](crate::Cgroup::apply) on [`SystemdUnit::cgroup_path`]) for the
    /// resources systemd does not know, as the cgroupfs driver does.
    ///
    /// ```no_run
    /// use iso_cgroups::{Layout, Resources, Systemd, SystemdUnit};
    /// let unit = SystemdUnit::new("system.slice", "iso-doc.scope")?;
    /// let pid = iso_sys::Pid::from_raw(std::process::id() as i32).expect("pid");
    /// Systemd::connect()?.start(&unit, Some(pid), &Resources::default(), &Layout::detect()?)?;
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn start(
        &mut self,
        unit: &SystemdUnit,
        pid: Option<Pid>,
        resources: &Resources,
        layout: &crate::Layout,
    ) -> Result<()> {
        let mut props: Vec<Property> = vec![
            (
                "Description",
                Value::str(format!("iso container {}", unit.name())),
            ),
            ("DefaultDependencies", Value::Bool(false)),
        ];
        if !unit.is_slice() {
            props.push(("Slice", Value::str(unit.slice())));
            props.push(("Delegate", Value::Bool(true)));
        }
        if let Some(pid) = pid {
            let pids = vec![Value::u32(pid.as_raw() as u32)];
            props.push(("PIDs", Value::Array("u".into(), pids)));
        }
        let v2 = layout.mode() == crate::Mode::Unified;
        let io = if v2 {
            "IOAccounting"
        } else {
            "BlockIOAccounting"
        };
        for name in ["MemoryAccounting", "CPUAccounting", "TasksAccounting", io] {
            props.push((name, Value::Bool(true)));
        }
        props.extend(properties(resources, v2)?);
        let args = [
            Value::str(unit.name()),
            Value::str("replace"),
            property_array(props),
            Value::Array("(sa(sv))".into(), Vec::new()),
        ];
        match self.run_job("StartTransientUnit", unit.name(), &args) {
            Err(Error::Systemd { name: Some(n), .. }) if n == UNIT_EXISTS => {
                self.reset_failed(unit.name())?;
                self.run_job("StartTransientUnit", unit.name(), &args)
            }
            other => other,
        }
    }

    /// Sets `resources` as properties of the running `unit` (for `update`); as with
    /// [`Systemd::start`], the cgroup files are the caller's to write.
    ///
    /// ```no_run
    /// use iso_cgroups::{Layout, Limit, Pids, Resources, Systemd, SystemdUnit};
    /// let unit = SystemdUnit::new("system.slice", "iso-doc.scope")?;
    /// let r = Resources { pids: Some(Pids { limit: Some(Limit::Value(10)) }), ..Resources::default() };
    /// Systemd::connect()?.set(&unit, &r, &Layout::detect()?)?;
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn set(
        &mut self,
        unit: &SystemdUnit,
        resources: &Resources,
        layout: &crate::Layout,
    ) -> Result<()> {
        let props = properties(resources, layout.mode() == crate::Mode::Unified)?;
        if props.is_empty() {
            return Ok(());
        }
        let args = [
            Value::str(unit.name()),
            Value::Bool(true),
            property_array(props),
        ];
        self.call("SetUnitProperties", unit.name(), &args)?
            .map(drop)
            .map_err(|r| refused("SetUnitProperties", unit.name(), r))
    }

    /// Stops `unit` (systemd kills what is left in it and removes its cgroup), waits for the
    /// stop job, and resets its failed state so that nothing of it stays loaded. A unit that
    /// is not loaded is already stopped.
    ///
    /// ```no_run
    /// let unit = iso_cgroups::SystemdUnit::new("system.slice", "iso-doc.scope")?;
    /// iso_cgroups::Systemd::connect()?.stop(&unit)?;
    /// # Ok::<(), iso_cgroups::Error>(())
    /// ```
    pub fn stop(&mut self, unit: &SystemdUnit) -> Result<()> {
        let args = [Value::str(unit.name()), Value::str("replace")];
        match self.run_job("StopUnit", unit.name(), &args) {
            Err(Error::Systemd { name: Some(n), .. }) if n == NO_SUCH_UNIT => {}
            other => other?,
        }
        self.reset_failed(unit.name())
    }

    fn reset_failed(&mut self, unit: &str) -> Result<()> {
        match self.call("ResetFailedUnit", unit, &[Value::str(unit)])? {
            Err(r) if r.name != NO_SUCH_UNIT => Err(refused("ResetFailedUnit", unit, r)),
            _ => Ok(()),
        }
    }
}

fn refused(op: &'static str, unit: &str, r: Refused) -> Error {
    failed(op, unit, Some(r.name), r.message)
}

fn failed(op: &'static str, unit: &str, name: Option<String>, reason: impl Into<String>) -> Error {
    Error::Systemd {
        op,
        unit: unit.to_owned(),
        name,
        reason: reason.into(),
    }
}

fn property_array(props: Vec<Property>) -> Value {
    let items = props
        .into_iter()
        .map(|(name, v)| Value::Struct(vec![Value::str(name), Value::Variant(Box::new(v))]))
        .collect();
    Value::Array("(sv)".into(), items)
}

/// The resource properties, device groups read from `/proc/devices` when a rule needs one.
fn properties(resources: &Resources, v2: bool) -> Result<Vec<Property>> {
    let devices = std::cell::OnceCell::new();
    let group = |kind: DeviceKind, major: u32| {
        let text =
            devices.get_or_init(|| std::fs::read_to_string("/proc/devices").unwrap_or_default());
        unit::parse_proc_devices(text, kind, major)
    };
    let version = if v2 { Version::V2 } else { Version::V1 };
    unit::resource_properties(resources, version, &group)
}
