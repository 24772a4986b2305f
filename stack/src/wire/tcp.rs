//! tcp (to be written by its owner)
