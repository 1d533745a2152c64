//! `labrys nemesis-delay` (hidden): the packet delayer the `delay` nemesis runs on each node.
//! It lives in the main binary so that namespace nodes, which see the host's files, can run it
//! without any copy; see `labrys_nemesis::delay`.

/// Runs until killed; returns 3 (error) if the queue cannot be served.
pub fn delay() -> u8 {
    match labrys_nemesis::delay::run_from_env() {
        Ok(()) => 0,
        Err(e) => {
            eout!("labrys nemesis-delay: {e}");
            3
        }
    }
}
