//! iso-mac: under construction.
