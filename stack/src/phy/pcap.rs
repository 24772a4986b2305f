//! pcap capture of every frame sent and received (`TAPSTACK_PCAP`).
