//! What each anomaly name means, in a sentence a newcomer can follow. The names are Elle's
//! (Adya's G0…G2 and their relatives) and the invariant checkers'; a name not here is shown
//! with its explanation alone.

/// A sentence for `name`, with the `-realtime`/`-process` suffixes explained.
pub fn meaning(name: &str) -> Option<String> {
    let (base, suffix) = if let Some(b) = name.strip_suffix("-realtime") {
        (
            b,
            " The cycle also uses real-time order: a transaction that finished before another began must come before it.",
        )
    } else if let Some(b) = name.strip_suffix("-process") {
        (
            b,
            " The cycle also uses process order: a process's transactions must take effect in the order it ran them.",
        )
    } else {
        (name, "")
    };
    let text = match base {
        "G0" => "Dirty write: transactions overwrote each other's writes in a cycle, so there is no order in which they happened one after another.",
        "G1a" => "Aborted read: a transaction read a value written by a transaction that failed, which should never be visible.",
        "G1b" => "Intermediate read: a transaction read a value that its writer later overwrote within the same transaction, a state that never committed.",
        "G1c" => "Circular information flow: transactions wrote over and read from each other in a cycle, so each saw the other's effects.",
        "G-single" | "G-single-item" => "Read skew: a cycle with exactly one anti-dependency; a transaction saw some of another's effects but missed the rest.",
        "G2" | "G2-item" => "Anti-dependency cycle (write skew): transactions each missed a write of the other.",
        "G-nonadjacent" | "G-nonadjacent-item" => "A cycle whose anti-dependencies never follow one another.",
        "lost-update" => "Lost update: two transactions read the same version of a key and both wrote it, so one write was lost.",
        "internal" => "Internal inconsistency: a transaction read something that contradicts its own earlier writes or reads of the same key.",
        "incompatible-order" => "Incompatible orders: two reads of a list saw its elements in orders that cannot both be prefixes of one list.",
        "duplicate-elements" => "A read saw the same element twice in a list that only ever had it appended once.",
        "dirty-update" => "Dirty update: a write built on a value written by a failed transaction.",
        "garbage-read" | "garbage-versions" => "A read saw a value that no operation ever wrote.",
        "cyclic-versions" => "The versions of some key cannot be put in any order: the reads disagree about which came first.",
        "non-monotonic-read" => "Non-monotonic read (read committed, Biswas–Enea): a transaction read an older state of a key after it had already seen a transaction that overwrote it, so its reads went back in time.",
        "fractured-read" => "Fractured read (read atomic): a transaction saw some of another transaction's writes but an older version of a key that transaction also wrote.",
        "causality-violation" => "Causality violation (causal consistency): a transaction read an older version of a key than a write that happens before it (through reads and, with the -process suffix, its process's earlier transactions).",
        "serializability-violation" => "Not serializable: no order of a register's versions lets the transactions run one at a time and each read see the last write before it (found by trying every order with a SAT solver; with -process or -realtime only once session or real-time order is kept).",
        "snapshot-isolation-violation" => "Not snapshot isolation: no order of a register's versions lets every transaction read from one snapshot and commit without a concurrent write to the same key; every order closes a cycle of dependencies in which no two anti-dependencies (rw) follow each other (found with a SAT solver; with -process only once each session sees its own earlier transactions, with -realtime only once every snapshot holds what committed before the transaction began).",
        "future-read" => "A transaction read a value written by a transaction that began later in its own process.",
        "linearizability" => "Not linearizable: no order of the operations that respects real time and the object's rules explains what they returned.",
        "wrong-total" => "A read of every account saw balances that do not add up to the money in the system.",
        "negative-value" => "A read saw a negative balance, which transfers must never leave.",
        "unexpected-key" => "A read saw an account that does not exist.",
        "nil-balance" => "A read saw an account without a balance.",
        "lost" => "Lost: an add the database acknowledged is missing from reads that must see it.",
        "unexpected" => "Unexpected: a read saw an element that no one tried to add.",
        "stale" => "Stale read: a read missed an element whose add had already completed.",
        "duplicated" => "A read saw the same element more than once.",
        "long-fork" => "Long fork: two reads saw two writes in opposite orders, so there is no single order of the writes.",
        "duplicates" | "duplicated-ids" => "The same id was handed out more than once.",
        "counter" | "out-of-bounds" => "A read of the counter saw a value no order of the increments can give.",
        "empty-transaction-graph" => "No transaction could be related to another.",
        _ => return None,
    };
    Some(format!("{text}{suffix}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn suffixes_extend_the_base_meaning() {
        let m = super::meaning("G-single-item-realtime").unwrap();
        assert!(m.starts_with("Read skew"));
        assert!(m.contains("real-time order"));
        assert!(super::meaning("no-such-thing").is_none());
    }
}
