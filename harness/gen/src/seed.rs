//! One seed for every random choice of a test, so a schedule can be replayed.
//!
//! Each consumer (the client generator, the nemesis, value choices ...) gets its own stream
//! derived from the test seed and a stream name, so adding randomness in one place does not
//! shift the choices made in another. ChaCha8 is used because its output is specified and
//! stable across versions and platforms, unlike `StdRng`.

use rand::SeedableRng;

/// The random number generator every labrys choice uses.
pub type Rng = rand_chacha::ChaCha8Rng;

/// The stream `name` of the test seeded with `seed`.
pub fn rng_for(seed: u64, name: &str) -> Rng {
    // FNV-1a over the name, mixed with the seed: stable, and different per stream.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Rng::seed_from_u64(seed ^ h.rotate_left(17))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng as _;

    #[test]
    fn streams_replay_and_differ() {
        let a: Vec<u32> = (0..8)
            .map(|_| 0)
            .scan(rng_for(7, "client"), |r, _: u32| Some(r.random()))
            .collect();
        let b: Vec<u32> = (0..8)
            .map(|_| 0)
            .scan(rng_for(7, "client"), |r, _: u32| Some(r.random()))
            .collect();
        let c: Vec<u32> = (0..8)
            .map(|_| 0)
            .scan(rng_for(7, "nemesis"), |r, _: u32| Some(r.random()))
            .collect();
        let d: Vec<u32> = (0..8)
            .map(|_| 0)
            .scan(rng_for(8, "client"), |r, _: u32| Some(r.random()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }
}
