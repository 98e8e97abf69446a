#![no_main]
//! libFuzzer harness for the `agent_wire` target (see ../targets.rs).

#[allow(dead_code)] // each harness uses one of the targets
#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::agent_wire(data));
