//! iso-chroot: under construction.
