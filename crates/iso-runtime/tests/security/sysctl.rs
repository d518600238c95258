//! A sysctl that is not namespaced (vm.*, kernel.* outside the ipc/uts sets, fs.*) would be
//! written to the host's kernel from inside the container: it must be refused by `create`.
//! The test asks for the host's current value, so the host is unchanged even if the runtime
//! wrongly writes it.

use std::fs;

use iso_testutil::bundle::{text, Fixture};

use crate::BIN;

#[test]
fn non_namespaced_sysctl_is_refused() {
    let Some(mut fx) = Fixture::new(BIN, "sec-sysctl") else {
        return;
    };
    let current = fs::read_to_string("/proc/sys/vm/swappiness").unwrap();
    let mut config = fx.config("true");
    config["linux"]["sysctl"] = serde_json::json!({"vm.swappiness": current.trim()});
    fx.write_config(&config);
    let id = fx.id("sysctl");
    let out = fx.rt(&["create", &id]);
    assert!(!out.status.success(), "vm.swappiness accepted");
    assert!(
        text(&out.stderr).contains("vm.swappiness"),
        "{}",
        text(&out.stderr)
    );
    assert!(fx.leftovers(&id).is_empty());
}
