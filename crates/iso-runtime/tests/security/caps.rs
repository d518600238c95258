//! `exec --cap` adds bounding, effective and permitted capabilities, never inheritable
//! ones (runc CVE-2022-29162).

use iso_testutil::bundle::{text, Fixture};

use crate::BIN;

#[test]
fn exec_cap_never_sets_inheritable() {
    let Some(mut fx) = Fixture::new(BIN, "sec-caps") else {
        return;
    };
    fx.write_config(&fx.config("sleep 30"));
    let id = fx.id("caps");
    let out = fx.rt(&["create", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(fx.rt(&["start", &id]).status.success());
    let out = fx.rt(&[
        "exec",
        "--cap",
        "CAP_NET_ADMIN",
        "--cap",
        "CAP_SYS_ADMIN",
        &id,
        "--",
        "grep",
        "^Cap",
        "/proc/self/status",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let inh = stdout
        .lines()
        .find(|l| l.starts_with("CapInh:"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(
        inh.split_whitespace().nth(1),
        Some("0000000000000000"),
        "{stdout}"
    );
    let eff = stdout.lines().find(|l| l.starts_with("CapEff:")).unwrap();
    let eff = u64::from_str_radix(eff.split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert!(
        eff & (1 << 12) != 0,
        "CAP_NET_ADMIN not effective: {stdout}"
    );
}
