//! iso-runtime: under construction.
