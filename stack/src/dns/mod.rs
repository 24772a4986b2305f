//! DNS: total, bounded wire parsing and a sans-IO stub resolver (hosts file, resolv.conf,
//! queries, answer validation, CNAME chains). The shim drives it over tapstack UDP/TCP.
