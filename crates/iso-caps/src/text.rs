//! The libcap text form of the effective, inheritable and permitted sets
//! (`cap_net_raw+epi`, `=ep cap_sys_admin-e`), as `capsh --caps=` and `setcap` take it.

use crate::{CapSet, Capabilities, Capability, Error};

/// Which of the three base sets a clause touches.
#[derive(Clone, Copy, Default)]
struct Flags {
    effective: bool,
    inheritable: bool,
    permitted: bool,
}

impl Capabilities {
    /// Parses the libcap text form (see `cap_from_text(3)`) into the effective,
    /// inheritable and permitted sets; bounding and ambient stay empty.
    ///
    /// The text is a list of whitespace-separated clauses, applied left to right to sets that
    /// start empty. A clause is a comma-separated list of capabilities (or `all`; an empty
    /// list before `=` also means all) followed by one or more `operator flags` pairs:
    /// `=` clears the listed capabilities in all three sets and then raises them in the given
    /// flags, `+` raises, `-` lowers. Flags are `e`, `i` and `p`.
    ///
    /// ```
    /// use iso_caps::{Capabilities, CapSet};
    /// let caps = Capabilities::from_text("cap_net_raw+epi")?;
    /// assert_eq!(caps.effective.to_string(), "CAP_NET_RAW");
    /// assert_eq!(caps.inheritable, caps.permitted);
    ///
    /// let caps = Capabilities::from_text("=ep cap_sys_admin-e")?;
    /// assert_eq!(caps.permitted, CapSet::all_known());
    /// assert!(!caps.effective.contains(iso_caps::Capability::SysAdmin));
    /// # Ok::<(), iso_caps::Error>(())
    /// ```
    pub fn from_text(text: &str) -> Result<Capabilities, Error> {
        let mut caps = Capabilities::default();
        for clause in text.split_whitespace() {
            apply_clause(&mut caps, clause)?;
        }
        Ok(caps)
    }
}

fn bad(clause: &str, reason: &str) -> Error {
    Error::Parse {
        what: format!("capability text clause {clause:?}"),
        reason: reason.to_owned(),
    }
}

fn apply_clause(caps: &mut Capabilities, clause: &str) -> Result<(), Error> {
    let op_start = clause
        .find(['=', '+', '-'])
        .ok_or_else(|| bad(clause, "no operator (=, + or -)"))?;
    let (list, mut actions) = clause.split_at(op_start);
    let first_op = actions.as_bytes().first().copied();
    let targets = if list.is_empty() {
        if first_op != Some(b'=') {
            return Err(bad(
                clause,
                "an empty capability list is only allowed with '='",
            ));
        }
        CapSet::all_known()
    } else {
        let mut set = CapSet::empty();
        for name in list.split(',') {
            if name.eq_ignore_ascii_case("all") {
                set = set.union(CapSet::all_known());
            } else {
                set.insert(name.parse::<Capability>()?);
            }
        }
        set
    };
    while let Some(&op) = actions.as_bytes().first() {
        let rest = &actions[1..];
        let flags_len = rest.find(['=', '+', '-']).unwrap_or(rest.len());
        let (flag_text, next) = rest.split_at(flags_len);
        let mut flags = Flags::default();
        for c in flag_text.chars() {
            match c {
                'e' | 'E' => flags.effective = true,
                'i' | 'I' => flags.inheritable = true,
                'p' | 'P' => flags.permitted = true,
                _ => return Err(bad(clause, "flags must be e, i or p")),
            }
        }
        if flag_text.is_empty() && op != b'=' {
            return Err(bad(clause, "'+' and '-' need flags"));
        }
        let sets = [
            (&mut caps.effective, flags.effective),
            (&mut caps.inheritable, flags.inheritable),
            (&mut caps.permitted, flags.permitted),
        ];
        for (set, flagged) in sets {
            match op {
                b'=' => {
                    *set = set.difference(targets);
                    if flagged {
                        *set = set.union(targets);
                    }
                }
                b'+' if flagged => *set = set.union(targets),
                b'-' if flagged => *set = set.difference(targets),
                _ => {}
            }
        }
        actions = next;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn clauses() {
        let net_raw = CapSet::from(Capability::NetRaw);
        let c = Capabilities::from_text("cap_net_raw+ep").unwrap();
        assert_eq!(
            (c.effective, c.permitted, c.inheritable),
            (net_raw, net_raw, CapSet::empty())
        );
        let c = Capabilities::from_text("cap_net_raw,cap_kill=ip cap_kill-i").unwrap();
        assert_eq!(c.inheritable, net_raw);
        assert_eq!(c.permitted.len(), 2);
        assert!(c.effective.is_empty());
        let c = Capabilities::from_text("all=e cap_chown=").unwrap();
        assert_eq!(c.effective.len(), 40);
        let c = Capabilities::from_text("cap_net_raw+p-p+e").unwrap();
        assert_eq!((c.effective, c.permitted), (net_raw, CapSet::empty()));
        assert_eq!(
            Capabilities::from_text("").unwrap(),
            Capabilities::default()
        );
        for bad in [
            "cap_net_raw",
            "+e",
            "cap_net_raw+x",
            "cap_bogus+e",
            "cap_net_raw+",
            "-p",
        ] {
            assert!(Capabilities::from_text(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,60}") {
            let _ = Capabilities::from_text(&s);
        }

        #[test]
        fn generated_clauses_round_trip(
            bits in any::<u64>(),
            e in any::<bool>(), i in any::<bool>(), p in any::<bool>(),
        ) {
            let set = CapSet::from_bits(bits).intersection(CapSet::all_known());
            prop_assume!(!set.is_empty());
            let flags: String = [(e, 'e'), (i, 'i'), (p, 'p')]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, c)| *c)
                .collect();
            let text = format!("{}={flags}", set.to_string().to_ascii_lowercase());
            let caps = Capabilities::from_text(&text).unwrap();
            let pick = |on: bool| if on { set } else { CapSet::empty() };
            prop_assert_eq!(caps.effective, pick(e));
            prop_assert_eq!(caps.inheritable, pick(i));
            prop_assert_eq!(caps.permitted, pick(p));
        }
    }
}
