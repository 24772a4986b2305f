//! `tapstack-host`: runs the stack over the TAP device named by `TAPSTACK_TAP`, answering ARP and
//! ICMP (and later serving as a test peer).
fn main() {
    eprintln!("tapstack-host: not yet implemented");
    std::process::exit(1);
}
