//! iso-ns: under construction.
