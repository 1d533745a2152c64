//! Waiting for something that is not ready yet, until a deadline: a short sleep that doubles
//! up to a cap while nothing happens and starts small again after progress. Both transports
//! poll (libssh2 in non-blocking mode, a child process's exit), and both need the deadline.

use std::time::{Duration, Instant};

/// First sleep after progress.
const MIN_PAUSE: Duration = Duration::from_micros(200);

/// Sleeps between polls until a deadline.
pub(crate) struct Poller {
    deadline: Instant,
    pause: Duration,
    max: Duration,
}

impl Poller {
    pub(crate) fn new(deadline: Instant, max: Duration) -> Poller {
        Poller {
            deadline,
            pause: MIN_PAUSE,
            max,
        }
    }

    /// Something happened: poll again soon.
    pub(crate) fn progressed(&mut self) {
        self.pause = MIN_PAUSE;
    }

    /// Nothing happened: sleeps and returns true, or returns false once the deadline passed.
    pub(crate) fn wait(&mut self) -> bool {
        let now = Instant::now();
        if now >= self.deadline {
            return false;
        }
        std::thread::sleep(self.pause.min(self.deadline - now));
        self.pause = (self.pause * 2).min(self.max);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_until_the_deadline_then_stops() {
        let start = Instant::now();
        let mut p = Poller::new(start + Duration::from_millis(30), Duration::from_millis(5));
        let mut waits = 0;
        while p.wait() {
            waits += 1;
            assert!(waits < 1000);
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(30), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert!(waits >= 5, "pauses are capped: {waits} waits");
    }

    #[test]
    fn progress_resets_the_pause() {
        let mut p = Poller::new(
            Instant::now() + Duration::from_secs(5),
            Duration::from_millis(8),
        );
        for _ in 0..10 {
            assert!(p.wait());
        }
        assert_eq!(p.pause, Duration::from_millis(8));
        p.progressed();
        assert_eq!(p.pause, MIN_PAUSE);
    }

    #[test]
    fn a_past_deadline_never_sleeps() {
        let mut p = Poller::new(Instant::now(), Duration::from_secs(1));
        let start = Instant::now();
        assert!(!p.wait());
        assert!(start.elapsed() < Duration::from_millis(100));
    }
}
