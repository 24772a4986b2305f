//! Fault injection (`TAPSTACK_FAULTS`): seeded loss, duplication, reordering, corruption.
