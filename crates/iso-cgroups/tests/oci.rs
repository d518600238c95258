//! Conversions from oci-spec's LinuxResources (feature `oci`).
#![cfg(feature = "oci")]

use iso_cgroups::*;

#[test]
fn full_oci_resources_convert() {
    let json = r#"{
        "devices": [{"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
        "memory": {"limit": 536870912, "reservation": -1, "swap": 1073741824, "swappiness": 10,
                   "disableOOMKiller": true, "checkBeforeUpdate": true},
        "cpu": {"shares": 1024, "quota": -1, "period": 100000, "burst": 1000, "realtimeRuntime": -1,
                "realtimePeriod": 1000000, "cpus": "0-1", "mems": "0", "idle": 1},
        "pids": {"limit": 0},
        "blockIO": {"weight": 500, "leafWeight": 300,
                    "weightDevice": [{"major": 8, "minor": 0, "weight": 600}],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
        "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
        "unified": {"memory.high": "1G"}
    }"#;
    let oci: oci_spec::runtime::LinuxResources = serde_json::from_str(json).unwrap();
    let r = Resources::try_from(&oci).unwrap();
    assert_eq!(
        r.pids,
        Some(Pids {
            limit: Some(Limit::Value(0))
        })
    );
    let m = r.memory.unwrap();
    assert_eq!(m.limit, Some(Limit::Value(512 << 20)));
    assert_eq!(m.reservation, Some(Limit::Max));
    assert_eq!(m.disable_oom_killer, Some(true));
    let c = r.cpu.as_ref().unwrap();
    assert_eq!(c.quota, Some(Limit::Max));
    assert_eq!(c.cpus.as_deref(), Some("0-1"));
    assert_eq!(r.devices[0].v1_line(), "a *:* rwm");
    assert_eq!(r.devices[1].v1_line(), "c 1:3 rw");
    assert_eq!(
        r.block_io.as_ref().unwrap().throttle_read_bps_device[0].rate,
        1 << 20
    );
    assert_eq!(r.hugepage_limits[0].page_size, "2MB");
    assert_eq!(
        r.network.as_ref().unwrap().priorities[0],
        ("eth0".to_string(), 5)
    );
    assert_eq!(r.rdma["mlx5_1"].hca_handles, Some(3));
    assert_eq!(r.unified["memory.high"], "1G");
    r.validate().unwrap();
}

#[test]
fn zero_means_unset_except_for_pids() {
    let oci: oci_spec::runtime::LinuxResources = serde_json::from_str(
        r#"{"pids": {"limit": 0}, "memory": {"limit": 0, "swap": 0},
            "cpu": {"shares": 0, "quota": 0, "period": 0}, "blockIO": {"weight": 0}}"#,
    )
    .unwrap();
    let r = Resources::try_from(&oci).unwrap();
    assert_eq!(r.pids.unwrap().limit, Some(Limit::Value(0)));
    let m = r.memory.unwrap();
    assert_eq!((m.limit, m.swap), (None, None));
    let c = r.cpu.unwrap();
    assert_eq!((c.shares, c.quota, c.period), (None, None, None));
    assert_eq!(r.block_io.unwrap().weight, None);
}

#[test]
fn bad_oci_values_name_the_field() {
    let oci: oci_spec::runtime::LinuxResources =
        serde_json::from_str(r#"{"pids": {"limit": -5}}"#).unwrap();
    assert_eq!(
        Resources::try_from(&oci).unwrap_err().field(),
        Some("pids.limit")
    );
    let oci: oci_spec::runtime::LinuxResources =
        serde_json::from_str(r#"{"memory": {"swap": -3}}"#).unwrap();
    assert_eq!(
        Resources::try_from(&oci).unwrap_err().field(),
        Some("memory.swap")
    );
    // As for memory, -1 is the only negative quota (unlimited).
    let oci: oci_spec::runtime::LinuxResources =
        serde_json::from_str(r#"{"cpu": {"quota": -2, "period": 100000}}"#).unwrap();
    let err = Resources::try_from(&oci).unwrap_err();
    assert_eq!(err.field(), Some("cpu.quota"));
    assert!(
        err.to_string().contains("-2 is negative and not -1"),
        "{err}"
    );
    let oci: oci_spec::runtime::LinuxResources =
        serde_json::from_str(r#"{"devices": [{"allow": true, "access": "rwx"}]}"#).unwrap();
    assert_eq!(
        Resources::try_from(&oci).unwrap_err().field(),
        Some("devices.access")
    );
}
