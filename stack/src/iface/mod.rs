//! The interface: ARP cache, routing table, IPv4 fragmentation/reassembly, IP dispatch.
