//! iso-cgroups: under construction.
