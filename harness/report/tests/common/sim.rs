//! A long register run, simulated: `clients` workers issuing reads, writes and cas ops with
//! latencies that grow during fault windows, some of them `info`; a partition every 20 s
//! (from 10 s to 20 s, 30 s to 40 s, ...).
//! Shared by the size test and the benchmark, so both measure the same history.

use labrys_history::{History, Op, OpType, Process, Value};

pub fn run(calls: usize, clients: usize, seed: u64) -> History {
    let mut s = seed | 1;
    let mut rnd = move |n: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % n
    };
    // Each client's next free instant, in ns; a call spans [start, end).
    let mut free = vec![0i64; clients];
    let mut process: Vec<i64> = (0..clients as i64).collect();
    let mut events: Vec<(i64, Op)> = Vec::with_capacity(calls * 2 + 64);
    // Spread over at least 30 s (a partition window fits), 1000 calls a second when longer.
    let seconds = (calls as f64 / 1000.0).max(30.0);
    let per_client_gap = ((seconds * 1e9 * clients as f64 / calls.max(1) as f64) * 2.0) as i64;
    for i in 0..calls {
        let c = i % clients;
        let start = free[c] + rnd(per_client_gap as u64) as i64;
        let faulty = (start / 1_000_000_000) % 20 >= 10;
        let lat = 200_000 + rnd(if faulty { 400_000_000 } else { 4_000_000 }) as i64;
        let (f, value) = match rnd(3) {
            0 => ("read", Value::Nil),
            1 => ("write", Value::Int(rnd(5) as i64)),
            _ => (
                "cas",
                Value::List(vec![Value::Int(rnd(5) as i64), Value::Int(rnd(5) as i64)]),
            ),
        };
        let kind = match rnd(100) {
            0..=2 => OpType::Info,
            3..=20 if f == "cas" => OpType::Fail,
            _ => OpType::Ok,
        };
        let p = process[c];
        let mut inv = Op::new(0, OpType::Invoke, p, f, value.clone());
        inv.time = Some(start);
        let done_value = if f == "read" && kind == OpType::Ok {
            Value::Int(rnd(5) as i64)
        } else {
            value
        };
        let mut done = Op::new(0, kind, p, f, done_value);
        done.time = Some(start + lat);
        events.push((start, inv));
        events.push((start + lat, done));
        free[c] = start + lat;
        if kind == OpType::Info {
            process[c] += clients as i64;
        }
    }
    let end = free.iter().cloned().max().unwrap_or(0);
    let mut t = 10_000_000_000i64;
    while t < end {
        for (k, f) in [(0, "start-partition"), (10_000_000_000, "stop-partition")] {
            let mut op = Op::new(0, OpType::Info, 0, f, Value::Nil);
            op.process = Process::Named("nemesis".into());
            op.time = Some(t + k);
            events.push((t + k, op));
        }
        t += 20_000_000_000;
    }
    events.sort_by_key(|e| e.0);
    let ops: Vec<Op> = events
        .into_iter()
        .enumerate()
        .map(|(i, (_, mut o))| {
            o.index = i as u64;
            o
        })
        .collect();
    History::from_ops(ops, "simulated").expect("a well-formed simulated history")
}
