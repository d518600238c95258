//! iso-seccomp: under construction.
