//! Generators: the schedule of client operations, as small composable state machines.
//!
//! Workers pull from one shared generator under a lock. A pull answers with an op to perform
//! now, a time to come back, "pending" (wait until an op in flight completes), or "done".
//! All randomness comes from the [`Rng`] the runtime passes in, which is seeded from the test
//! seed, so a schedule replays from its seed.
//!
//! Combinators (after Jepsen's): [`from_fn`] and [`sequence`] make sources; [`mix`] picks a
//! random source per op; [`limit`] caps the op count; [`stagger`] spaces ops randomly around
//! a mean interval (the rate); [`time_limit`] stops after a duration; [`sleep`] waits;
//! [`phases`] runs generators one after the other, each starting only once every op of the
//! previous one completed.

use crate::client::OpSpec;
use crate::seed::Rng;
use rand::Rng as _;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// What a worker learns when it pulls.
#[derive(Clone, Debug, PartialEq)]
pub enum Pull {
    /// Perform this op now.
    Op(OpSpec),
    /// Nothing before this instant: sleep, then pull again.
    Wait(Instant),
    /// Nothing until some op in flight completes.
    Pending,
    /// This generator will produce nothing more.
    Done,
}

/// What a generator may know about the test when pulled.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    pub now: Instant,
    /// Ops pulled and not yet completed (not counting the pulling worker, which is idle).
    pub in_flight: usize,
}

/// A schedule of client operations.
pub trait Generator: Send {
    fn pull(&mut self, ctx: &Ctx, rng: &mut Rng) -> Pull;
}

impl Generator for Box<dyn Generator> {
    fn pull(&mut self, ctx: &Ctx, rng: &mut Rng) -> Pull {
        (**self).pull(ctx, rng)
    }
}

struct FromFn<F>(F);

impl<F> Generator for FromFn<F>
where
    F: FnMut(&mut Rng) -> Option<OpSpec> + Send,
{
    fn pull(&mut self, _ctx: &Ctx, rng: &mut Rng) -> Pull {
        match (self.0)(rng) {
            Some(op) => Pull::Op(op),
            None => Pull::Done,
        }
    }
}

/// A source calling `f` for each op; `None` ends it.
pub fn from_fn<F>(f: F) -> Box<dyn Generator>
where
    F: FnMut(&mut Rng) -> Option<OpSpec> + Send + 'static,
{
    Box::new(FromFn(f))
}

struct Sequence(VecDeque<OpSpec>);

impl Generator for Sequence {
    fn pull(&mut self, _ctx: &Ctx, _rng: &mut Rng) -> Pull {
        self.0.pop_front().map(Pull::Op).unwrap_or(Pull::Done)
    }
}

/// These ops, in order, once each.
pub fn sequence(ops: impl IntoIterator<Item = OpSpec>) -> Box<dyn Generator> {
    Box::new(Sequence(ops.into_iter().collect()))
}

/// One op.
pub fn once(op: OpSpec) -> Box<dyn Generator> {
    sequence([op])
}

struct Mix(Vec<Box<dyn Generator>>);

impl Generator for Mix {
    fn pull(&mut self, ctx: &Ctx, rng: &mut Rng) -> Pull {
        while !self.0.is_empty() {
            let i = rng.random_range(0..self.0.len());
            match self.0[i].pull(ctx, rng) {
                Pull::Done => {
                    self.0.remove(i);
                }
                other => return other,
            }
        }
        Pull::Done
    }
}

/// Each op from a uniformly random one of `gens`; done when all are.
pub fn mix(gens: Vec<Box<dyn Generator>>) -> Box<dyn Generator> {
    Box::new(Mix(gens))
}

struct Limit {
    left: u64,
    inner: Box<dyn Generator>,
}

impl Generator for Limit {
    fn pull(&mut self, ctx: &Ctx, rng: &mut Rng) -> Pull {
        if self.left == 0 {
            return Pull::Done;
        }
        let p = self.inner.pull(ctx, rng);
        if matches!(p, Pull::Op(_)) {
            self.left -= 1;
        }
        p
    }
}

/// At most `n` ops of `inner`.
pub fn limit(n: u64, inner: Box<dyn Generator>) -> Box<dyn Generator> {
    Box::new(Limit { left: n, inner })
}

struct Stagger {
    mean: Duration,
    next_at: Option<Instant>,
    inner: Box<dyn Generator>,
}

impl Generator for Stagger {
    fn pull(&mut self, ctx: &Ctx, rng: &mut Rng) -> Pull {
        if let Some(t) = self.next_at {
            if ctx.now < t {
                return Pull::Wait(t);
            }
        }
        let p = self.inner.pull(ctx, rng);
        if matches!(p, Pull::Op(_)) {
            let nanos = self.mean.as_nanos().min(u128::from(u64::MAX / 2)) as u64;
            let gap = if nanos == 0 {
                0
            } else {
                rng.random_range(0..=2 * nanos)
            };
            self.next_at = Some(ctx.now + Duration::from_nanos(gap));
        }
        p
    }
}

/// Spaces `inner`'s ops by uniformly random gaps in `[0, 2*mean]`: about one op per `mean`
/// across all workers (a rate of `1/mean`).
pub fn stagger(mean: Duration, inner: Box<dyn Generator>) -> Box<dyn Generator> {
    Box::new(Stagger {
        mean,
        next_at: None,
        inner,
    })
}

struct TimeLimit {
    limit: Duration,
    deadline: Option<Instant>,
    inner: Box<dyn Generator>,
}

impl Generator for TimeLimit {
    fn pull(&mut self, ctx: &Ctx, rng: &mut Rng) -> Pull {
        let deadline = *self.deadline.get_or_insert(ctx.now + self.limit);
        if ctx.now >= deadline {
            return Pull::Done;
        }
        match self.inner.pull(ctx, rng) {
            Pull::Wait(t) if t > deadline => Pull::Wait(deadline),
            p => p,
        }
    }
}

/// `inner` until `limit` has passed since its first pull.
pub fn time_limit(limit: Duration, inner: Box<dyn Generator>) -> Box<dyn Generator> {
    Box::new(TimeLimit {
        limit,
        deadline: None,
        inner,
    })
}

struct Sleep {
    dur: Duration,
    until: Option<Instant>,
}

impl Generator for Sleep {
    fn pull(&mut self, ctx: &Ctx, _rng: &mut Rng) -> Pull {
        let until = *self.until.get_or_insert(ctx.now + self.dur);
        if ctx.now >= until {
            Pull::Done
        } else {
            Pull::Wait(until)
        }
    }
}

/// No ops for `dur` from its first pull (a pause between phases).
pub fn sleep(dur: Duration) -> Box<dyn Generator> {
    Box::new(Sleep { dur, until: None })
}

struct Phases {
    gens: VecDeque<Box<dyn Generator>>,
}

impl Generator for Phases {
    fn pull(&mut self, ctx: &Ctx, rng: &mut Rng) -> Pull {
        while let Some(g) = self.gens.front_mut() {
            match g.pull(ctx, rng) {
                Pull::Done if ctx.in_flight > 0 => return Pull::Pending,
                Pull::Done => {
                    self.gens.pop_front();
                }
                p => return p,
            }
        }
        Pull::Done
    }
}

/// Each generator in turn; the next starts only when the previous is done and every op it
/// started has completed.
pub fn phases(gens: Vec<Box<dyn Generator>>) -> Box<dyn Generator> {
    Box::new(Phases { gens: gens.into() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::rng_for;
    use labrys_history::Value;

    fn op(i: i64) -> OpSpec {
        OpSpec::new("write", Value::Int(i))
    }

    fn counter(f: &'static str) -> Box<dyn Generator> {
        let mut i = 0;
        from_fn(move |_| {
            i += 1;
            Some(OpSpec::new(f, Value::Int(i)))
        })
    }

    fn ctx(now: Instant, in_flight: usize) -> Ctx {
        Ctx { now, in_flight }
    }

    #[test]
    fn limit_and_sequence_end() {
        let mut rng = rng_for(1, "t");
        let now = Instant::now();
        let mut g = limit(2, sequence([op(1), op(2), op(3)]));
        assert_eq!(g.pull(&ctx(now, 0), &mut rng), Pull::Op(op(1)));
        assert_eq!(g.pull(&ctx(now, 0), &mut rng), Pull::Op(op(2)));
        assert_eq!(g.pull(&ctx(now, 0), &mut rng), Pull::Done);
    }

    #[test]
    fn mix_draws_from_all_until_all_done() {
        let mut rng = rng_for(1, "t");
        let now = Instant::now();
        let mut g = mix(vec![
            limit(30, counter("read")),
            limit(30, counter("write")),
        ]);
        let mut fs = Vec::new();
        while let Pull::Op(o) = g.pull(&ctx(now, 0), &mut rng) {
            fs.push(o.f.to_string());
        }
        assert_eq!(fs.len(), 60);
        assert_eq!(fs.iter().filter(|f| *f == "read").count(), 30);
        // Interleaved, not one source after the other.
        assert_ne!(fs[..30].iter().filter(|f| *f == "read").count(), 30);
    }

    #[test]
    fn stagger_spaces_ops_and_time_limit_cuts() {
        let mut rng = rng_for(3, "t");
        let t0 = Instant::now();
        let mean = Duration::from_millis(100);
        let mut g = time_limit(Duration::from_secs(10), stagger(mean, counter("read")));
        let mut now = t0;
        let mut ops = 0;
        loop {
            match g.pull(&ctx(now, 0), &mut rng) {
                Pull::Op(_) => ops += 1,
                Pull::Wait(t) => {
                    assert!(t > now && t <= t0 + Duration::from_secs(10));
                    now = t;
                }
                Pull::Done => break,
                Pull::Pending => panic!("no phases here"),
            }
        }
        // About 100 ops in 10 s at one per 100 ms on average.
        assert!((60..=140).contains(&ops), "{ops} ops");
        assert!(now >= t0 + Duration::from_secs(10));
    }

    #[test]
    fn phases_wait_for_ops_in_flight() {
        let mut rng = rng_for(1, "t");
        let now = Instant::now();
        let mut g = phases(vec![once(op(1)), once(op(2))]);
        assert_eq!(g.pull(&ctx(now, 0), &mut rng), Pull::Op(op(1)));
        assert_eq!(g.pull(&ctx(now, 1), &mut rng), Pull::Pending);
        assert_eq!(g.pull(&ctx(now, 0), &mut rng), Pull::Op(op(2)));
        assert_eq!(g.pull(&ctx(now, 1), &mut rng), Pull::Pending);
        assert_eq!(g.pull(&ctx(now, 0), &mut rng), Pull::Done);
    }

    #[test]
    fn sleep_waits_then_ends() {
        let mut rng = rng_for(1, "t");
        let t0 = Instant::now();
        let mut g = sleep(Duration::from_secs(2));
        assert_eq!(
            g.pull(&ctx(t0, 0), &mut rng),
            Pull::Wait(t0 + Duration::from_secs(2))
        );
        assert_eq!(
            g.pull(&ctx(t0 + Duration::from_secs(2), 0), &mut rng),
            Pull::Done
        );
    }
}
