//! arp (to be written by its owner)
