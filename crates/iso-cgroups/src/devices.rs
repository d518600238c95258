//! The v1 device controller as a state: a default (allow or deny every device) and the
//! exceptions to it, so that a change of rules is written as the smallest transition from
//! what the kernel holds (`devices.list`) to what the rules ask for. Rewriting the rules from
//! scratch would start with `deny a`: a running container would lose every device, even
//! `/dev/null`, until the allows that follow are written.

use std::collections::BTreeMap;

use crate::resources::{DeviceAccess, DeviceKind, DeviceRule};

/// A device class: kind letter (`a`, `c`, `b`), major and minor (`None` is `*`).
type Class = (char, Option<u32>, Option<u32>);

/// One line to write: to `devices.allow` when `allow`, else `devices.deny`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Write {
    pub allow: bool,
    pub line: String,
}

/// What the device controller of one cgroup allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceState {
    allow_default: bool,
    /// Classes whose access differs from the default, with the access that differs.
    exceptions: BTreeMap<Class, DeviceAccess>,
    /// Whether `exceptions` is known: the kernel lists none while the default is allow
    /// (`a *:* rwm` alone), whatever deny exceptions it holds.
    known: bool,
}

fn letter(kind: DeviceKind) -> char {
    match kind {
        DeviceKind::All => 'a',
        DeviceKind::Char => 'c',
        DeviceKind::Block => 'b',
    }
}

fn line((kind, major, minor): Class, access: DeviceAccess) -> String {
    let num = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
    format!(
        "{kind} {}:{} {}",
        num(major),
        num(minor),
        access.as_v1_str()
    )
}

/// For each class of `want`, the access `have` lacks, written with `allow`.
fn missing<'a>(
    want: &'a BTreeMap<Class, DeviceAccess>,
    have: &'a BTreeMap<Class, DeviceAccess>,
    allow: bool,
) -> impl Iterator<Item = Write> + 'a {
    want.iter().filter_map(move |(class, w)| {
        let h = have.get(class).copied().unwrap_or(DeviceAccess::empty());
        (!h.contains(*w)).then(|| Write {
            allow,
            line: line(*class, w.difference(h)),
        })
    })
}

impl DeviceState {
    /// The state `devices.list` shows, or `None` for a line it cannot read.
    pub(crate) fn from_list(text: &str) -> Option<DeviceState> {
        let mut state = DeviceState {
            allow_default: false,
            exceptions: BTreeMap::new(),
            known: true,
        };
        for l in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut fields = l.split_whitespace();
            let kind = fields.next()?.chars().next()?;
            let (major, minor) = fields.next()?.split_once(':')?;
            let num = |n: &str| -> Option<Option<u32>> {
                if n == "*" {
                    Some(None)
                } else {
                    n.parse().ok().map(Some)
                }
            };
            let access = DeviceAccess::from_oci(fields.next()?).ok()?;
            if kind == 'a' {
                state.allow_default = true;
                state.known = false;
                state.exceptions.clear();
                continue;
            }
            state
                .exceptions
                .insert((kind, num(major)?, num(minor)?), access);
        }
        Some(state)
    }

    /// The state after the kernel applied `rules` in order: `a` sets the default and drops
    /// every exception; a rule against the default adds its access to the class's exception,
    /// a rule along it removes that access from the exception of exactly that class.
    pub(crate) fn after(&self, rules: &[DeviceRule]) -> DeviceState {
        let mut s = self.clone();
        for r in rules {
            let class = (letter(r.kind), r.major, r.minor);
            if r.kind == DeviceKind::All {
                s = DeviceState {
                    allow_default: r.allow,
                    exceptions: BTreeMap::new(),
                    known: true,
                };
            } else if r.allow != s.allow_default {
                *s.exceptions.entry(class).or_insert(DeviceAccess::empty()) |= r.access;
            } else if let Some(a) = s.exceptions.get_mut(&class) {
                a.remove(r.access);
                if a.is_empty() {
                    s.exceptions.remove(&class);
                }
            }
        }
        s
    }

    /// The writes that take the kernel from `self` to `target`. With the same default and
    /// known exceptions, only the differences: first what `target` adds, then what it
    /// takes away, so nothing both allow is denied at any step. Otherwise the default is set
    /// (`a`), then each exception.
    pub(crate) fn transition(&self, target: &DeviceState) -> Vec<Write> {
        let against = !target.allow_default;
        let mut out = Vec::new();
        if self.allow_default == target.allow_default && self.known {
            out.extend(missing(&target.exceptions, &self.exceptions, against));
            out.extend(missing(&self.exceptions, &target.exceptions, !against));
            return out;
        }
        out.push(Write {
            allow: target.allow_default,
            line: "a *:* rwm".into(),
        });
        out.extend(target.exceptions.iter().map(|(class, a)| Write {
            allow: against,
            line: line(*class, *a),
        }));
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A rule for every access (rwm).
    pub(crate) fn rule(
        allow: bool,
        kind: DeviceKind,
        major: Option<u32>,
        minor: Option<u32>,
    ) -> DeviceRule {
        DeviceRule {
            allow,
            kind,
            major,
            minor,
            access: DeviceAccess::all(),
        }
    }

    fn lines(w: &[Write]) -> Vec<String> {
        w.iter()
            .map(|w| format!("{} {}", if w.allow { "allow" } else { "deny" }, w.line))
            .collect()
    }

    #[test]
    fn a_new_cgroup_is_reset_then_allowed() {
        let new = DeviceState::from_list("a *:* rwm\n").unwrap();
        let rules = [
            rule(false, DeviceKind::All, None, None),
            rule(true, DeviceKind::Char, Some(1), Some(3)),
        ];
        let target = new.after(&rules);
        assert_eq!(
            lines(&new.transition(&target)),
            ["deny a *:* rwm", "allow c 1:3 rwm"]
        );
    }

    #[test]
    fn an_update_writes_only_the_difference_and_never_denies_all() {
        let current = DeviceState::from_list("c 1:3 rwm\nc 1:5 rwm\nc 136:* rw\n").unwrap();
        let rules = [
            rule(false, DeviceKind::All, None, None),
            rule(true, DeviceKind::Char, Some(1), Some(3)),
            rule(true, DeviceKind::Char, Some(1), Some(9)),
            DeviceRule {
                access: DeviceAccess::READ | DeviceAccess::WRITE,
                ..rule(true, DeviceKind::Char, Some(136), None)
            },
        ];
        let target = current.after(&rules);
        assert_eq!(
            lines(&current.transition(&target)),
            ["allow c 1:9 rwm", "deny c 1:5 rwm"]
        );
        // The same rules again: nothing to write.
        assert!(target.transition(&target).is_empty());
        // Replaying the writes on the current state gives the target, and no step denies
        // what both allow.
        let mut s = current.clone();
        for w in current.transition(&target) {
            let r = DeviceState::from_list(&w.line).unwrap();
            let (class, access) = r.exceptions.into_iter().next().unwrap();
            let kind = if class.0 == 'c' {
                DeviceKind::Char
            } else {
                DeviceKind::Block
            };
            s = s.after(&[DeviceRule {
                allow: w.allow,
                kind,
                major: class.1,
                minor: class.2,
                access,
            }]);
            assert!(s.exceptions.contains_key(&('c', Some(1), Some(3))));
        }
        assert_eq!(s, target);
    }

    #[test]
    fn an_allow_all_cgroup_is_reset_because_its_denies_are_not_listed() {
        let current = DeviceState::from_list("a *:* rwm\n").unwrap();
        let target = current.after(&[rule(false, DeviceKind::Block, Some(8), None)]);
        assert_eq!(
            lines(&current.transition(&target)),
            ["allow a *:* rwm", "deny b 8:* rwm"]
        );
        assert!(DeviceState::from_list("x").is_none());
    }
}
