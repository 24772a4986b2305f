//! icmpv4 (to be written by its owner)
