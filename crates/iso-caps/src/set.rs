//! [`CapSet`], a set of capabilities as the kernel stores it (a 64-bit mask), and [`Set`], the
//! five capability sets every thread has.

use std::fmt;
use std::str::FromStr;

use crate::{Capability, Error};

/// The highest capability number a [`CapSet`] can hold: the kernel's masks are 64 bits wide
/// (two 32-bit words in `capget(2)`).
pub const MAX_CAP_NUMBER: u8 = 63;

/// A set of capabilities, stored as the kernel's 64-bit mask.
///
/// The set holds capabilities by *number*, so it can carry capabilities that a newer kernel
/// knows and this crate does not (numbers above [`Capability::LAST`] up to the kernel's
/// [`last_cap`](crate::last_cap)): reading a process' sets never loses bits, and applying
/// them gives back exactly what was read. [`CapSet::iter`] yields the named ones,
/// [`CapSet::numbers`] every bit.
///
/// Text form: comma-separated canonical names, unknown numbers in decimal; `""` is the empty
/// set. Parsing accepts any [`Capability`] spelling, decimal numbers `0..=63`, and `ALL` (every
/// capability this crate knows).
///
/// ```
/// use iso_caps::{CapSet, Capability};
///
/// let mut set = CapSet::empty();
/// set.insert(Capability::NetRaw);
/// set.insert(Capability::Chown);
/// assert!(set.contains(Capability::NetRaw));
/// assert_eq!(set.bits(), (1 << 13) | 1);
/// assert_eq!(set.to_string(), "CAP_CHOWN,CAP_NET_RAW");
/// assert_eq!("cap_chown, net_raw".parse::<CapSet>()?, set);
/// # Ok::<(), iso_caps::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CapSet(u64);

impl CapSet {
    /// The empty set.
    ///
    /// ```
    /// assert!(iso_caps::CapSet::empty().is_empty());
    /// ```
    pub const fn empty() -> Self {
        CapSet(0)
    }

    /// Every capability this crate knows by name (`0..=Capability::LAST`).
    ///
    /// ```
    /// assert_eq!(iso_caps::CapSet::all_known().len(), 41);
    /// ```
    pub const fn all_known() -> Self {
        CapSet::up_to(Capability::LAST.index())
    }

    /// Every capability number from 0 to `last` inclusive, for example
    /// `CapSet::up_to(iso_caps::last_cap()?)` is everything the running kernel supports.
    /// `last` above [`MAX_CAP_NUMBER`] is clamped.
    ///
    /// ```
    /// assert_eq!(iso_caps::CapSet::up_to(1).bits(), 0b11);
    /// assert_eq!(iso_caps::CapSet::up_to(200).bits(), u64::MAX);
    /// ```
    pub const fn up_to(last: u8) -> Self {
        if last >= MAX_CAP_NUMBER {
            CapSet(u64::MAX)
        } else {
            CapSet((1u64 << (last + 1)) - 1)
        }
    }

    /// The set with mask `bits` (bit `n` is capability number `n`).
    ///
    /// ```
    /// let set = iso_caps::CapSet::from_bits(1 << 13);
    /// assert!(set.contains(iso_caps::Capability::NetRaw));
    /// ```
    pub const fn from_bits(bits: u64) -> Self {
        CapSet(bits)
    }

    /// The mask.
    ///
    /// ```
    /// assert_eq!(iso_caps::CapSet::empty().bits(), 0);
    /// ```
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether the set is empty.
    ///
    /// ```
    /// assert!(!iso_caps::CapSet::all_known().is_empty());
    /// ```
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many capabilities the set holds.
    ///
    /// ```
    /// assert_eq!(iso_caps::CapSet::from_bits(0b101).len(), 2);
    /// ```
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether `cap` is in the set.
    ///
    /// ```
    /// use iso_caps::{CapSet, Capability};
    /// assert!(CapSet::from_bits(1).contains(Capability::Chown));
    /// ```
    pub const fn contains(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    /// Whether capability number `number` is in the set (false above 63).
    ///
    /// ```
    /// assert!(iso_caps::CapSet::from_bits(1 << 50).contains_number(50));
    /// ```
    pub const fn contains_number(self, number: u8) -> bool {
        number <= MAX_CAP_NUMBER && self.0 & (1u64 << number) != 0
    }

    /// Adds `cap`.
    ///
    /// ```
    /// let mut set = iso_caps::CapSet::empty();
    /// set.insert(iso_caps::Capability::Kill);
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn insert(&mut self, cap: Capability) {
        self.0 |= cap.bit();
    }

    /// Adds capability number `number`, including numbers this crate has no name for.
    /// Fails for numbers above 63, which no capability mask can hold.
    ///
    /// ```
    /// let mut set = iso_caps::CapSet::empty();
    /// set.insert_number(45)?;
    /// assert!(set.insert_number(64).is_err());
    /// # Ok::<(), iso_caps::Error>(())
    /// ```
    pub fn insert_number(&mut self, number: u8) -> Result<(), Error> {
        if number > MAX_CAP_NUMBER {
            return Err(Error::OutOfRange {
                number: u32::from(number),
            });
        }
        self.0 |= 1u64 << number;
        Ok(())
    }

    /// Removes `cap`.
    ///
    /// ```
    /// let mut set = iso_caps::CapSet::all_known();
    /// set.remove(iso_caps::Capability::SysAdmin);
    /// assert!(!set.contains(iso_caps::Capability::SysAdmin));
    /// ```
    pub fn remove(&mut self, cap: Capability) {
        self.0 &= !cap.bit();
    }

    /// The capabilities in both sets.
    ///
    /// ```
    /// use iso_caps::CapSet;
    /// assert_eq!(CapSet::from_bits(0b110).intersection(CapSet::from_bits(0b011)).bits(), 0b010);
    /// ```
    pub const fn intersection(self, other: CapSet) -> CapSet {
        CapSet(self.0 & other.0)
    }

    /// The capabilities in either set.
    ///
    /// ```
    /// use iso_caps::CapSet;
    /// assert_eq!(CapSet::from_bits(0b100).union(CapSet::from_bits(0b001)).bits(), 0b101);
    /// ```
    pub const fn union(self, other: CapSet) -> CapSet {
        CapSet(self.0 | other.0)
    }

    /// The capabilities in `self` and not in `other`.
    ///
    /// ```
    /// use iso_caps::CapSet;
    /// assert_eq!(CapSet::from_bits(0b111).difference(CapSet::from_bits(0b010)).bits(), 0b101);
    /// ```
    pub const fn difference(self, other: CapSet) -> CapSet {
        CapSet(self.0 & !other.0)
    }

    /// Whether every capability of `self` is in `other`.
    ///
    /// ```
    /// use iso_caps::CapSet;
    /// assert!(CapSet::from_bits(0b01).is_subset(CapSet::from_bits(0b11)));
    /// ```
    pub const fn is_subset(self, other: CapSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// The named capabilities in the set, in kernel order (numbers without a name are left
    /// out; see [`CapSet::numbers`]).
    ///
    /// ```
    /// use iso_caps::{CapSet, Capability};
    /// let caps: Vec<_> = CapSet::from_bits(0b11 | 1 << 60).iter().collect();
    /// assert_eq!(caps, [Capability::Chown, Capability::DacOverride]);
    /// ```
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        self.numbers().filter_map(Capability::from_index)
    }

    /// Every capability number in the set, in increasing order.
    ///
    /// ```
    /// let numbers: Vec<u8> = iso_caps::CapSet::from_bits(1 | 1 << 60).numbers().collect();
    /// assert_eq!(numbers, [0, 60]);
    /// ```
    pub fn numbers(self) -> impl Iterator<Item = u8> {
        (0..=MAX_CAP_NUMBER).filter(move |&n| self.contains_number(n))
    }
}

impl FromIterator<Capability> for CapSet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut set = CapSet::empty();
        for cap in iter {
            set.insert(cap);
        }
        set
    }
}

impl From<Capability> for CapSet {
    fn from(cap: Capability) -> Self {
        CapSet(cap.bit())
    }
}

impl fmt::Display for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for n in self.numbers() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            match Capability::from_index(n) {
                Some(cap) => f.write_str(cap.name())?,
                None => write!(f, "{n}")?,
            }
        }
        Ok(())
    }
}

impl FromStr for CapSet {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut set = CapSet::empty();
        if s.trim().is_empty() {
            return Ok(set);
        }
        for item in s.split(',') {
            let item = item.trim();
            if item.eq_ignore_ascii_case("all") {
                set = set.union(CapSet::all_known());
            } else if !item.is_empty() && item.bytes().all(|b| b.is_ascii_digit()) {
                let number: u32 = item
                    .parse()
                    .map_err(|_| Error::OutOfRange { number: u32::MAX })?;
                let number = u8::try_from(number).map_err(|_| Error::OutOfRange { number })?;
                set.insert_number(number)?;
            } else {
                set.insert(item.parse()?);
            }
        }
        Ok(set)
    }
}

/// The five capability sets of a thread.
///
/// ```
/// use iso_caps::Set;
/// assert_eq!(Set::Ambient.to_string(), "ambient");
/// assert_eq!(Set::ALL.len(), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Set {
    /// The limit on what the thread can ever gain: through `execve` of a file with file
    /// capabilities, or by adding to its inheritable set. Can only shrink (`PR_CAPBSET_DROP`).
    Bounding,
    /// What the kernel checks right now.
    Effective,
    /// The ceiling for effective and, without `CAP_SETPCAP`, for inheritable. Can only shrink.
    Permitted,
    /// What may be passed to a program across `execve`, combined with the file's inheritable
    /// capabilities (or, for programs without file capabilities, through ambient).
    Inheritable,
    /// What a program *without* file capabilities keeps across `execve` (since Linux 4.3);
    /// always a subset of permitted and inheritable.
    Ambient,
}

impl Set {
    /// The five sets, in the order they are applied.
    pub const ALL: [Set; 5] = [
        Set::Bounding,
        Set::Effective,
        Set::Permitted,
        Set::Inheritable,
        Set::Ambient,
    ];

    /// The name of the set's line in `/proc/PID/status`.
    ///
    /// ```
    /// assert_eq!(iso_caps::Set::Bounding.status_key(), "CapBnd");
    /// ```
    pub const fn status_key(self) -> &'static str {
        match self {
            Set::Bounding => "CapBnd",
            Set::Effective => "CapEff",
            Set::Permitted => "CapPrm",
            Set::Inheritable => "CapInh",
            Set::Ambient => "CapAmb",
        }
    }

    /// The lower-case name (`"bounding"`, ...), as in OCI's `process.capabilities`.
    ///
    /// ```
    /// assert_eq!(iso_caps::Set::Permitted.name(), "permitted");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Set::Bounding => "bounding",
            Set::Effective => "effective",
            Set::Permitted => "permitted",
            Set::Inheritable => "inheritable",
            Set::Ambient => "ambient",
        }
    }
}

impl fmt::Display for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_form() {
        assert_eq!(CapSet::empty().to_string(), "");
        assert_eq!("".parse::<CapSet>().unwrap(), CapSet::empty());
        assert_eq!("all".parse::<CapSet>().unwrap(), CapSet::all_known());
        assert_eq!(
            "13,0".parse::<CapSet>().unwrap().to_string(),
            "CAP_CHOWN,CAP_NET_RAW"
        );
        assert_eq!(CapSet::from_bits(1 << 41 | 1).to_string(), "CAP_CHOWN,41");
        assert!(matches!(
            "64".parse::<CapSet>().unwrap_err(),
            Error::OutOfRange { number: 64 }
        ));
        assert!(matches!(
            "99999999999999".parse::<CapSet>().unwrap_err(),
            Error::OutOfRange { .. }
        ));
        assert!(matches!(
            "CAP_CHOWN,CAP_BOGUS".parse::<CapSet>().unwrap_err(),
            Error::UnknownName { ref name } if name == "CAP_BOGUS"
        ));
    }

    #[test]
    fn up_to_edges() {
        assert_eq!(CapSet::up_to(0).bits(), 1);
        assert_eq!(CapSet::up_to(62).bits(), u64::MAX >> 1);
        assert_eq!(CapSet::up_to(63).bits(), u64::MAX);
        assert_eq!(CapSet::all_known().len(), 41);
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(bits in any::<u64>()) {
            let set = CapSet::from_bits(bits);
            prop_assert_eq!(set.to_string().parse::<CapSet>().unwrap(), set);
            prop_assert_eq!(set.numbers().count(), set.len());
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,60}") {
            let _ = s.parse::<CapSet>();
        }

        #[test]
        fn parsing_names_and_numbers(items in proptest::collection::vec(0u8..=63, 0..10)) {
            let text: Vec<String> = items.iter().map(|n| match Capability::from_index(*n) {
                Some(c) if n % 2 == 0 => c.name().to_ascii_lowercase(),
                _ => n.to_string(),
            }).collect();
            let set: CapSet = text.join(",").parse().unwrap();
            let expected = items.iter().fold(0u64, |acc, n| acc | 1 << n);
            prop_assert_eq!(set.bits(), expected);
        }
    }
}
