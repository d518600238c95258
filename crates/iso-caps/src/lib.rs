//! iso-caps: under construction.
