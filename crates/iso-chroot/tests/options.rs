//! The OCI-style mount option parser.

use iso_chroot::{Mount, MountFlags, MountKind, Propagation};
use proptest::prelude::*;

#[test]
fn known_options() {
    let m = Mount::new(MountKind::Bind, "/d")
        .options("rbind,ro,nosuid,nodev,rnoexec,rrelatime,rprivate,uid=1000")
        .unwrap();
    assert_eq!(m.kind(), &MountKind::RBind);
    assert_eq!(
        m.mount_flags(),
        MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV
    );
    assert_eq!(
        m.recursive_flags(),
        MountFlags::NOEXEC | MountFlags::RELATIME
    );
    assert_eq!(m.propagation_mode(), Some(Propagation::RPrivate));
    assert_eq!(m.data_options(), ["uid=1000"]);
    // A later option undoes an earlier one.
    let m = Mount::tmpfs("/t").options("ro,rw,rro,rrw").unwrap();
    assert!(m.mount_flags().is_empty() && m.recursive_flags().is_empty());
    assert!(Mount::tmpfs("/t").options("size=1m\0").is_err());
}

const FLAG_WORDS: [&str; 15] = [
    "ro",
    "rw",
    "nosuid",
    "suid",
    "nodev",
    "dev",
    "noexec",
    "exec",
    "noatime",
    "strictatime",
    "relatime",
    "nodiratime",
    "diratime",
    "nosymfollow",
    "symfollow",
];

fn is_keyword(w: &str) -> bool {
    Propagation::parse(w).is_some()
        || matches!(w, "defaults" | "bind" | "rbind")
        || FLAG_WORDS.contains(&w)
        || w.strip_prefix('r').is_some_and(|f| FLAG_WORDS.contains(&f))
}

proptest! {
    /// Any option string parses without panicking; words that are not options become data, in
    /// order; and the last of `ro`/`rw` wins.
    #[test]
    fn any_options_parse(words in prop::collection::vec("[a-z=0-9]{0,8}|r?(ro|rw|nosuid|noexec|nodev|noatime)|(r?(private|slave|shared))", 0..8)) {
        let joined = words.join(",");
        let m = Mount::tmpfs("/t").options(&joined).unwrap();
        let data: Vec<&String> = words.iter().filter(|w| !w.is_empty() && !is_keyword(w)).collect();
        let got: Vec<&String> = m.data_options().iter().collect();
        prop_assert_eq!(got, data);
        let last = words.iter().rev().find(|w| *w == "ro" || *w == "rw");
        prop_assert_eq!(m.mount_flags().contains(MountFlags::RDONLY), last.map(|w| w == "ro").unwrap_or(false));
        let last_r = words.iter().rev().find(|w| *w == "rro" || *w == "rrw");
        prop_assert_eq!(m.recursive_flags().contains(MountFlags::RDONLY), last_r.map(|w| w == "rro").unwrap_or(false));
    }
}
