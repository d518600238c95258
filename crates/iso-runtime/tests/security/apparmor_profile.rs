//! An AppArmor profile loaded by a VM-tier test, shared with `tests/conformance.rs`.
#![allow(dead_code)]

use std::process::{Command, Stdio};

/// A profile that allows what a container's processes do (files, capabilities, network,
/// signals, ptrace, unix sockets) and denies /proc/sysrq-trigger; loaded with
/// `apparmor_parser --replace`, removed when dropped.
pub struct TestProfile {
    pub name: &'static str,
}

impl TestProfile {
    pub fn load(name: &'static str) -> TestProfile {
        let rules = format!(
            "profile {name} flags=(attach_disconnected,mediate_deleted) {{\n  file,\n  \
             capability,\n  network,\n  signal,\n  ptrace,\n  unix,\n  \
             deny /proc/sysrq-trigger rwklx,\n}}\n"
        );
        let mut parser = Command::new("apparmor_parser")
            .args(["--replace", "--skip-cache"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(parser.stdin.as_mut().unwrap(), rules.as_bytes()).unwrap();
        drop(parser.stdin.take());
        assert!(parser.wait().unwrap().success(), "apparmor_parser {name}");
        TestProfile { name }
    }

    /// What /proc/PID/attr/current reads for a task confined by this profile.
    pub fn label(&self) -> String {
        format!("{} (enforce)", self.name)
    }
}

impl Drop for TestProfile {
    fn drop(&mut self) {
        let _ = iso_mac::apparmor::remove(self.name);
    }
}
