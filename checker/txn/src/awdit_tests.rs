//! The causal saturation against the per-session one it replaced, kept here as the reference:
//! the two may force different pairs (the last write per chain instead of per session), but
//! with `so ∪ wr` they must order exactly the same pairs (the same transitive closure), hence
//! give the same verdicts. Checked on random histories with many short sessions (a process
//! replaced after each crash, as in Jepsen), on causal stores' histories, and with planted
//! violations.

use super::*;

impl Prepared {
    /// The per-session causal saturation (before chains), unchanged.
    fn saturate_cc_sessions(
        &self,
        out: &mut Vec<Co>,
        deadline: &Deadline,
    ) -> Result<Option<Vec<u32>>, ()> {
        let n = self.n();
        let k = self.sessions.len();
        // Successors in so ∪ wr (distinct), as CSR.
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for r in &self.reads {
            if r.from != BOT {
                pairs.push((r.from, r.txn));
            }
        }
        for s in &self.sessions {
            for w in s.windows(2) {
                pairs.push((w[0], w[1]));
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut succ_off = vec![0u32; n + 1];
        for &(a, _) in &pairs {
            succ_off[a as usize + 1] += 1;
        }
        for i in 0..n {
            succ_off[i + 1] += succ_off[i];
        }
        let mut indeg = vec![0u32; n];
        for &(_, b) in &pairs {
            indeg[b as usize] += 1;
        }
        let succ: Vec<u32> = pairs.iter().map(|e| e.1).collect();
        let mut pred_off = vec![0u32; n + 1];
        for &(_, b) in &pairs {
            pred_off[b as usize + 1] += 1;
        }
        for i in 0..n {
            pred_off[i + 1] += pred_off[i];
        }
        let mut pred = vec![0u32; pairs.len()];
        {
            let mut fill = pred_off.clone();
            for &(a, b) in &pairs {
                pred[fill[b as usize] as usize] = a;
                fill[b as usize] += 1;
            }
        }
        drop(pairs);
        // Per key: (session, positions of its writes of the key, ascending), sessions ascending.
        let mut kw: Vec<(u32, u32, u32)> = Vec::new();
        for (si, s) in self.sessions.iter().enumerate() {
            for (p, &t) in s.iter().enumerate() {
                for &(y, _) in self.writes_of(t) {
                    kw.push((y, si as u32, p as u32));
                }
            }
        }
        kw.sort_unstable();
        let positions: Vec<u32> = kw.iter().map(|e| e.2).collect();
        // key -> range of (session, start, len) entries in `runs`.
        let mut runs: Vec<(u32, u32, u32)> = Vec::new();
        let mut key_runs: HashMap<u32, (u32, u32)> = HashMap::default();
        let mut i = 0;
        while i < kw.len() {
            let (y, s, _) = kw[i];
            let mut j = i;
            while j < kw.len() && kw[j].0 == y && kw[j].1 == s {
                j += 1;
            }
            let e = key_runs
                .entry(y)
                .or_insert((runs.len() as u32, runs.len() as u32));
            runs.push((s, i as u32, (j - i) as u32));
            e.1 = runs.len() as u32;
            i = j;
        }
        drop(kw);
        let run_session: Vec<u32> = runs.iter().map(|e| e.0).collect();
        let zeros = vec![0u32; k];
        let mut cand: Vec<u32> = Vec::new();
        // Clocks (inclusive of the transaction itself), kept while a successor is left and then
        // recycled; a transaction whose last successor is its session successor hands its
        // clock over to it (no copy: a long session is one clock updated in place).
        let mut remaining: Vec<u32> = (0..n).map(|t| succ_off[t + 1] - succ_off[t]).collect();
        let mut clocks: Vec<Option<Box<[u32]>>> = vec![None; n];
        let mut pool: Vec<Box<[u32]>> = Vec::new();
        let fresh = |pool: &mut Vec<Box<[u32]>>| {
            pool.pop()
                .unwrap_or_else(|| vec![0u32; k].into_boxed_slice())
        };
        let mut rank = vec![NONE; n];
        let mut heap: BinaryHeap<Reverse<u32>> = (0..n as u32)
            .filter(|&t| self.included[t as usize] && indeg[t as usize] == 0)
            .map(Reverse)
            .collect();
        // Per t1 (while it has successors left), sorted by session: one past the last position of a
        // write of that session already forced before t1.
        let mut forced: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n];
        let mut done = 0u32;
        while let Some(Reverse(t3)) = heap.pop() {
            if done.is_multiple_of(4096) && deadline.expired() {
                return Err(());
            }
            rank[t3 as usize] = done;
            done += 1;
            // The clock is the join of the predecessors' (inclusive) clocks: start from the
            // session predecessor's, and join only the writers it does not already cover (a
            // covered writer happens before something joined, so its clock is below).
            let so_pred = self.so_pred(t3);
            let reads_from = |p: u32| self.read_range(t3).any(|i| self.reads[i].from == p);
            let mut cur = match so_pred {
                // t3 is its last successor and does not read its clock: take it over.
                Some(p) if remaining[p as usize] == 1 && !reads_from(p) => clocks[p as usize]
                    .take()
                    .expect("a clock while successors are left"),
                Some(p) => {
                    let mut c = fresh(&mut pool);
                    c.copy_from_slice(clocks[p as usize].as_deref().expect("live clock"));
                    c
                }
                None => {
                    let mut c = fresh(&mut pool);
                    c.iter_mut().for_each(|x| *x = 0);
                    c
                }
            };
            let preds = &pred[pred_off[t3 as usize] as usize..pred_off[t3 as usize + 1] as usize];
            for &p in preds {
                if Some(p) == so_pred
                    || cur[self.session[p as usize] as usize] > self.pos[p as usize]
                {
                    continue;
                }
                let other = clocks[p as usize].as_deref().expect("live clock");
                for (c, &v) in cur.iter_mut().zip(other) {
                    *c = (*c).max(v);
                }
            }
            for i in self.read_range(t3) {
                let r = self.reads[i];
                let Some(&(a, b)) = key_runs.get(&r.key) else {
                    continue;
                };
                let clock1: &[u32] = if r.from == BOT {
                    &zeros
                } else {
                    clocks[r.from as usize].as_deref().expect("live clock")
                };
                // The sessions where the reader knows more than t1, without a branch per
                // session (most fail the test; a mispredicted branch each was the main cost).
                let sessions = &run_session[a as usize..b as usize];
                cand.resize(sessions.len(), 0);
                let mut m = 0;
                for (j, &s) in sessions.iter().enumerate() {
                    cand[m] = j as u32;
                    m += usize::from(cur[s as usize] > clock1[s as usize]);
                }
                for &j in &cand[..m] {
                    let (s, start, len) = runs[a as usize + j as usize];
                    let limit = cur[s as usize];
                    let seen_by_t1 = clock1[s as usize];
                    let ps = &positions[start as usize..(start + len) as usize];
                    let below = ps.partition_point(|&p| p < limit);
                    if below == 0 || ps[below - 1] < seen_by_t1 {
                        continue;
                    }
                    let p2 = ps[below - 1];
                    if r.from != BOT {
                        // Already forced before t1: this write or a later one of its session
                        // (which it reaches by `so`).
                        let f = &mut forced[r.from as usize];
                        match f.binary_search_by_key(&s, |e| e.0) {
                            Ok(x) if f[x].1 > p2 => continue,
                            Ok(x) => f[x].1 = p2 + 1,
                            Err(x) => f.insert(x, (s, p2 + 1)),
                        }
                    }
                    let t2 = self.sessions[s as usize][p2 as usize];
                    out.push(Co {
                        before: t2,
                        after: r.from,
                        read: i as u32,
                        via: Via::HappensBefore,
                    });
                }
            }
            let s3 = self.session[t3 as usize] as usize;
            cur[s3] = self.pos[t3 as usize] + 1;
            if remaining[t3 as usize] > 0 {
                clocks[t3 as usize] = Some(cur);
            } else {
                pool.push(cur);
            }
            for &p in preds {
                remaining[p as usize] -= 1;
                if remaining[p as usize] == 0 {
                    if let Some(c) = clocks[p as usize].take() {
                        pool.push(c);
                    }
                    forced[p as usize] = Vec::new();
                }
            }
            for &q in &succ[succ_off[t3 as usize] as usize..succ_off[t3 as usize + 1] as usize] {
                indeg[q as usize] -= 1;
                if indeg[q as usize] == 0 {
                    heap.push(Reverse(q));
                }
            }
        }
        let n_included = self.included.iter().filter(|&&b| b).count() as u32;
        Ok((done == n_included).then_some(rank))
    }
}

use crate::gen::{generate, generate_causal, CausalConfig, GenConfig, Rng};
use crate::txn::Txns;

/// `so ∪ wr ∪ co` (`co` pairs into `⊥` as edges into an extra node `n`), transitively closed,
/// one bit set per transaction.
fn closure(p: &Prepared, co: &[(u32, u32)]) -> Vec<Vec<u64>> {
    let n = p.n() + 1;
    let words = n.div_ceil(64);
    let mut reach = vec![vec![0u64; words]; n];
    let mut edge = |a: u32, b: u32| {
        let b = if b == BOT { n - 1 } else { b as usize };
        reach[a as usize][b / 64] |= 1 << (b % 64);
    };
    for r in &p.reads {
        if r.from != BOT {
            edge(r.from, r.txn);
        }
    }
    for s in &p.sessions {
        for w in s.windows(2) {
            edge(w[0], w[1]);
        }
    }
    for &(a, b) in co {
        edge(a, b);
    }
    // Floyd–Warshall over bit rows.
    for m in 0..n {
        for a in 0..n {
            if reach[a][m / 64] >> (m % 64) & 1 == 1 {
                let row = reach[m].clone();
                for (x, y) in reach[a].iter_mut().zip(&row) {
                    *x |= y;
                }
            }
        }
    }
    reach
}

/// Every pair the causal axiom forces, from its definition (happens-before by closure).
fn naive_forced(p: &Prepared) -> Vec<(u32, u32)> {
    let hb = closure(p, &[]);
    let mut out = Vec::new();
    for r in &p.reads {
        for t2 in 0..p.n() as u32 {
            if t2 != r.from
                && p.included[t2 as usize]
                && p.wrote(t2, r.key).is_some()
                && hb[t2 as usize][r.txn as usize / 64] >> (r.txn % 64) & 1 == 1
            {
                out.push((t2, r.from));
            }
        }
    }
    out
}

fn pairs(co: &[Co]) -> Vec<(u32, u32)> {
    co.iter().map(|c| (c.before, c.after)).collect()
}

/// What the two saturations must agree on; with `exact`, also the transitive closure of
/// `so ∪ wr ∪ co` (and that it is the one of every pair the axiom forces). Returns (sessions,
/// chains, or `None` when `so ∪ wr` is cyclic).
fn compare(p: &Prepared, exact: bool, what: &str) -> (usize, Option<(u32, u32)>) {
    let none = Deadline::none();
    let mut old = Vec::new();
    let mut new = Vec::new();
    let r_old = p.saturate_cc_sessions(&mut old, &none).unwrap();
    let r_new = p.saturate_cc(&mut new, &none).unwrap();
    assert_eq!(r_old.is_some(), r_new.is_some(), "{what}: so ∪ wr cyclic?");
    let (chains, width) = match (&r_old, &r_new) {
        (Some(a), Some((b, chains, width))) => {
            assert!(*width <= *chains, "{what}");
            assert_eq!(a, b, "{what}: topological ranks");
            (*chains, *width)
        }
        _ => return (p.sessions.len(), None),
    };
    assert!(
        chains as usize <= p.sessions.len(),
        "{what}: chains are unions of sessions"
    );
    let (_, sccs_old, plain_old) = p.cycles(&old, true);
    let (_, sccs_new, plain_new) = p.cycles(&new, true);
    let init = |co: &[Co]| co.iter().any(|c| c.after == BOT);
    assert_eq!(init(&old), init(&new), "{what}: a forced pair before ⊥");
    assert_eq!(sccs_old, sccs_new, "{what}: cyclic SCCs with a forced pair");
    assert_eq!(plain_old, plain_new, "{what}: cyclic SCCs of so ∪ wr");
    let r = p.check_level(Level::Causal, true);
    assert_eq!(r.n_sccs, sccs_old, "{what}");
    assert_eq!(r.forced_violation(), init(&old) || sccs_old > 0, "{what}");
    if exact {
        let c_old = closure(p, &pairs(&old));
        let c_new = closure(p, &pairs(&new));
        assert!(c_old == c_new, "{what}: the chain pairs order other pairs");
        let c_all = closure(p, &naive_forced(p));
        assert!(c_all == c_new, "{what}: not what the axiom forces");
    }
    (p.sessions.len(), Some((chains, width)))
}

/// A random history as `Prepared` sees it, Jepsen-like: `clients` clients, each on a process
/// until it crashes (then a fresh session); each read of a key from its latest writer so far,
/// an older one, one not yet run (a later index: `so ∪ wr` may be cyclic), or `⊥`.
fn random_prepared(seed: u64, txns: usize) -> Prepared {
    let mut rng = Rng::new(seed);
    let clients = 1 + rng.below(8) as usize;
    let keys = 1 + rng.below(6) as u32;
    let crash = rng.below(500) as u32; // per mille
    let stale = rng.below(400) as u32;
    let mut writers: Vec<Vec<u32>> = vec![Vec::new(); keys as usize];
    let mut session_of_client: Vec<u32> = vec![NONE; clients];
    let mut p = Prepared {
        kind: Kind::RwRegister,
        included: vec![true; txns],
        read_off: vec![0],
        reads: Vec::new(),
        write_off: vec![0],
        writes: Vec::new(),
        session: vec![NONE; txns],
        pos: vec![NONE; txns],
        sessions: Vec::new(),
    };
    // Who writes what, first (reads may name a later writer).
    let mut wkeys: Vec<Vec<u32>> = Vec::new();
    for _ in 0..txns {
        let mut w: Vec<u32> = (0..rng.below(3))
            .map(|_| rng.below(keys as u64) as u32)
            .collect();
        w.sort_unstable();
        w.dedup();
        wkeys.push(w);
    }
    let mut all: Vec<Vec<u32>> = vec![Vec::new(); keys as usize];
    for (t, w) in wkeys.iter().enumerate() {
        for &y in w {
            all[y as usize].push(t as u32);
        }
    }
    for t in 0..txns as u32 {
        let c = rng.below(clients as u64) as usize;
        if session_of_client[c] == NONE {
            session_of_client[c] = p.sessions.len() as u32;
            p.sessions.push(Vec::new());
        }
        let s = session_of_client[c];
        p.session[t as usize] = s;
        p.pos[t as usize] = p.sessions[s as usize].len() as u32;
        p.sessions[s as usize].push(t);
        if (rng.below(1000) as u32) < crash {
            session_of_client[c] = NONE;
        }
        let mut read_keys: Vec<u32> = (0..rng.below(4))
            .map(|_| rng.below(keys as u64) as u32)
            .collect();
        read_keys.sort_unstable();
        read_keys.dedup();
        for y in read_keys {
            let ws = &writers[y as usize];
            let roll = rng.below(1000) as u32;
            let from = if roll < 20 {
                BOT
            } else if roll < 30 {
                let later = &all[y as usize];
                match later.iter().find(|&&w| w > t) {
                    Some(&w) => w,
                    None => continue,
                }
            } else if ws.is_empty() {
                BOT
            } else if roll < 30 + stale {
                ws[rng.below(ws.len() as u64) as usize]
            } else {
                ws[ws.len() - 1]
            };
            p.reads.push(Read {
                txn: t,
                key: y,
                val: 0,
                from,
            });
        }
        p.read_off.push(p.reads.len() as u32);
        for &y in &wkeys[t as usize] {
            p.writes.push((y, t + 1));
            writers[y as usize].push(t);
        }
        p.write_off.push(p.writes.len() as u32);
    }
    p
}

#[test]
fn chains_order_what_sessions_order_on_random_histories() {
    let (mut violated, mut cyclic, mut sessions, mut chains, mut width) = (0, 0, 0, 0, 0);
    for seed in 0..3000u64 {
        let txns = 2 + (seed % 60) as usize;
        let p = random_prepared(seed, txns);
        let (s, c) = compare(&p, true, &format!("random seed {seed}"));
        sessions += s;
        chains += c.map_or(0, |c| c.0) as usize;
        width += c.map_or(0, |c| c.1) as usize;
        cyclic += usize::from(c.is_none());
        violated += usize::from(p.check_level(Level::Causal, true).forced_violation());
    }
    eprintln!(
        "3000 random: {violated} violated, {cyclic} cyclic so ∪ wr; \
         {sessions} sessions, {chains} chains, clocks {width} wide in all"
    );
    // Retirement ran (in tests, as soon as there are two active chains).
    assert!(width < chains, "{width} {chains}");
    assert!(violated > 300 && violated < 2700, "{violated}");
    assert!(
        chains < sessions * 2 / 3,
        "{chains} chains for {sessions} sessions"
    );
    // Longer ones, verdicts only.
    for seed in 0..40u64 {
        let p = random_prepared(1_000_000 + seed, 3000);
        compare(&p, false, &format!("long random seed {seed}"));
    }
}

/// Histories through `Prepared::new`: valid ones from the causal store and from the
/// serializable generator with many crashes (each a new session), and the same with planted
/// stale reads (a read moved to an older writer of its key, or to `⊥`).
#[test]
fn chains_order_what_sessions_order_on_generated_histories() {
    let mut planted_violations = 0;
    for seed in 0..400u64 {
        let (h, kind) = match seed % 3 {
            0 => (
                generate_causal(&CausalConfig::small(seed)),
                Kind::RwRegister,
            ),
            1 => (
                generate(&GenConfig {
                    txns: 150,
                    clients: 4,
                    info_per_mille: 150,
                    ..GenConfig::small(Kind::RwRegister, seed)
                }),
                Kind::RwRegister,
            ),
            _ => (
                generate(&GenConfig {
                    txns: 150,
                    clients: 4,
                    info_per_mille: 150,
                    ..GenConfig::small(Kind::ListAppend, seed)
                }),
                Kind::ListAppend,
            ),
        };
        let t = Txns::from_history(&h, kind).unwrap();
        let mut p = Prepared::new(&t);
        compare(&p, true, &format!("generated seed {seed}"));
        assert!(
            !p.check_level(Level::Causal, true).violated(),
            "seed {seed}"
        );
        // Plant: some reads go stale.
        let mut rng = Rng::new(seed);
        let mut by_key: HashMap<u32, Vec<u32>> = HashMap::default();
        for t in 0..p.n() as u32 {
            if p.included[t as usize] {
                for &(y, _) in p.writes_of(t) {
                    by_key.entry(y).or_default().push(t);
                }
            }
        }
        for _ in 0..1 + rng.below(3) {
            if p.reads.is_empty() {
                break;
            }
            let i = rng.below(p.reads.len() as u64) as usize;
            let r = p.reads[i];
            let ws: Vec<u32> = by_key
                .get(&r.key)
                .map(|ws| ws.iter().copied().filter(|&w| w < r.txn).collect())
                .unwrap_or_default();
            p.reads[i].from = if ws.is_empty() || rng.below(4) == 0 {
                BOT
            } else {
                ws[rng.below(ws.len() as u64) as usize]
            };
        }
        compare(&p, true, &format!("planted seed {seed}"));
        planted_violations += usize::from(p.check_level(Level::Causal, true).violated());
    }
    assert!(planted_violations > 100, "{planted_violations}");
    // An AWDIT-shaped one, verdicts only.
    let h = generate_causal(&CausalConfig::awdit_like(20_000, 3));
    let p = Prepared::new(&Txns::from_history(&h, Kind::RwRegister).unwrap());
    let (s, c) = compare(&p, false, "awdit-like");
    assert!(c.is_some_and(|c| c.0 as usize <= s));
}
