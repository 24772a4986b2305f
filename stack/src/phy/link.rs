//! A deterministic in-memory link between devices, driven by a virtual clock, for tests.
