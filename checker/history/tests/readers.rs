//! Readers on hand-written inputs: every format, every shape, and the errors users hit.

use labrys_history::{read_str, Error, Format, OpType, Process, Value};

fn ops(text: &str) -> Vec<labrys_history::Op> {
    read_str(text, "t", Format::Auto)
        .unwrap_or_else(|e| panic!("{e}"))
        .ops
}

fn err(text: &str) -> String {
    match read_str(text, "h.edn", Format::Auto) {
        Ok(h) => panic!("expected an error, got {} ops", h.ops.len()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn jsonl_native_format() {
    let o = ops(concat!(
        r#"{"index":0,"time":123,"type":"invoke","process":0,"f":"write","value":3}"#,
        "\n",
        r#"{"index":1,"time":150,"type":"ok","process":0,"f":"write","value":3,"node":"n1"}"#,
        "\n"
    ));
    assert_eq!(o.len(), 2);
    assert_eq!(o[0].time, Some(123));
    assert_eq!(o[1].kind, OpType::Ok);
    assert_eq!(&*o[1].f, "write");
    assert_eq!(o[1].value, Value::Int(3));
    assert_eq!(o[1].field("node"), Some(&Value::str("n1")));
    assert_eq!(o[1].line, 2);
}

#[test]
fn json_array_one_line_and_many() {
    let a = ops(
        r#"[{"type":"invoke","process":0,"f":"read","value":null},{"type":"ok","process":0,"f":"read","value":[1,"x",{"k":true}]}]"#,
    );
    assert_eq!(a.len(), 2);
    assert_eq!(a[1].index, 1);
    assert_eq!(
        a[1].value,
        Value::List(vec![
            Value::Int(1),
            Value::str("x"),
            Value::Map(vec![(Value::str("k"), Value::Bool(true))])
        ])
    );
    let b = ops("[\n{\"type\":\"invoke\",\"process\":\"nemesis\",\"f\":\"start\"},\n{\"type\":\"info\",\"process\":\"nemesis\",\"f\":\"start\"}\n]\n");
    assert_eq!(b[1].process, Process::Named("nemesis".into()));
    assert_eq!(b[1].line, 3);
}

#[test]
fn edn_vector_with_comments_tags_sets_and_discards() {
    let text = r#"; a comment
[{:process 0, :type :invoke, :f :read, :value nil} ; trailing
 #jepsen.history.Op{:index 1 :time 5 :type :ok :process 0 :f :read :value #{1 2 3}}
 #_ {:this :is :ignored :entirely}
 {:process :nemesis :type :info :f :start :value "a \"quoted\"\n" :extra [\a \newline 12N 1.5M -7]}]
"#;
    let o = ops(text);
    assert_eq!(o.len(), 3);
    assert_eq!(
        o[1].value,
        Value::Set(vec![Value::Int(3), Value::Int(2), Value::Int(1)])
    );
    assert_eq!(o[1].time, Some(5));
    assert_eq!(o[2].value, Value::str("a \"quoted\"\n"));
    assert_eq!(
        o[2].field("extra"),
        Some(&Value::List(vec![
            Value::Char('a'),
            Value::Char('\n'),
            Value::Int(12),
            Value::Float(1.5),
            Value::Int(-7)
        ]))
    );
    assert_eq!(o[2].line, 5);
}

#[test]
fn edn_one_map_per_line_keywords_stay_keywords() {
    let o = ops("{:type :invoke, :f :txn, :value [[:append 1 2] [:r 1 nil]], :process 3}\n{:type :ok, :f :txn, :value [[:append 1 2] [:r 1 [2]]], :process 3}\n");
    let mops = o[1].value.as_seq().unwrap();
    assert_eq!(mops[0].as_seq().unwrap()[0], Value::kw("append"));
    assert_ne!(mops[0].as_seq().unwrap()[0], Value::str("append"));
    assert!(mops[0].as_seq().unwrap()[0].same_name(&Value::str("append")));
}

#[test]
fn edn_big_integers_are_exact() {
    let o = ops("[{:type :invoke :process 0 :f :write :value 123456789012345678901234567890}]");
    assert_eq!(
        o[0].value,
        Value::BigInt("123456789012345678901234567890".into())
    );
    assert_eq!(o[0].value.to_string(), "123456789012345678901234567890N");
}

#[test]
fn jepsen_log_lines_with_tabs_or_spaces() {
    let text = "2015-01-01 INFO  jepsen.core - Running test\n\
INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]\n\
INFO  jepsen.util - 1   :invoke :read   nil\n\
INFO  jepsen.util - 2\t:info\t:cas\t:timed-out\n\
INFO  jepsen.util - 1   :ok :read   3\n\
INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n";
    let o = ops(text);
    assert_eq!(o.len(), 5);
    assert_eq!(o[0].value, Value::List(vec![Value::Int(3), Value::Int(0)]));
    assert_eq!(o[0].line, 2);
    assert_eq!(o[2].kind, OpType::Info);
    assert_eq!(o[2].value, Value::Nil);
    assert_eq!(o[2].field("error"), Some(&Value::kw("timed-out")));
    assert_eq!(o[3].value, Value::Int(3));
    assert_eq!(o[4].process, Process::Named("nemesis".into()));
}

#[test]
fn missing_process_pairs_adjacent_records() {
    let h = read_str(
        "[{:type :invoke :f :read :value nil} {:type :ok :f :read :value 1} {:type :invoke :f :read :value nil} {:type :ok :f :read :value 2}]",
        "t",
        Format::Edn,
    )
    .unwrap();
    assert!(h.processes_inferred);
    assert_eq!(h.pairs.len(), 2);
    assert_ne!(h.ops[0].process, h.ops[2].process);
    assert_eq!(h.pairs[1].completion, Some(3));
}

#[test]
fn pairing_and_unknown_outcomes() {
    let h = read_str(
        r#"{"type":"invoke","process":0,"f":"write","value":1}
{"type":"invoke","process":1,"f":"read","value":null}
{"type":"info","process":0,"f":"write","value":1}
{"type":"invoke","process":"nemesis","f":"start","value":null}"#,
        "t",
        Format::Auto,
    )
    .unwrap();
    let calls: Vec<_> = h.calls().collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].outcome(), OpType::Info);
    assert_eq!(
        calls[1].outcome(),
        OpType::Info,
        "never completed means unknown"
    );
    assert_eq!(calls[1].complete_pos, usize::MAX);
    assert_eq!(h.non_client_ops().count(), 1);
}

#[test]
fn malformed_histories_name_the_line() {
    let e = err("{:type :ok :process 0 :f :read :value 1}\n");
    assert!(
        e.starts_with("h.edn:1:") && e.contains("no pending invoke"),
        "{e}"
    );
    let e = err("{:type :invoke :process 0 :f :read}\n{:type :invoke :process 0 :f :read}\n");
    assert!(
        e.starts_with("h.edn:2:") && e.contains("still pending"),
        "{e}"
    );
    let e = err("{:type :invoke :process 0 :f :read}\n{:type :ok :process 0 :f :write}\n");
    assert!(
        e.starts_with("h.edn:2:") && e.contains("expected the same f"),
        "{e}"
    );
    let e = err("{:process 0 :f :read}\n");
    assert!(e.starts_with("h.edn:1:") && e.contains("no :type"), "{e}");
    let e = err("{:type :bogus :process 0 :f :read}\n");
    assert!(e.contains("expected one of :invoke"), "{e}");
}

#[test]
fn syntax_errors_name_line_and_column() {
    let e = err("[{:type :invoke :process 0}\n {:type :ok :process 0");
    assert!(e.starts_with("h.edn:2:") && e.contains("truncated"), "{e}");
    let e = err("{:type :invoke :process 0 :value [1 2}\n");
    assert!(
        e.starts_with("h.edn:1:38:") && e.contains("expected ']'"),
        "{e}"
    );
    let e = err("{:type :invoke :process 0 :value \"abc");
    assert!(e.contains("inside a string"), "{e}");
    let e = match read_str(
        "{\"type\":\"invoke\",\"process\":0,\n\"value\":[1,2,}\n",
        "h.json",
        Format::Auto,
    ) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted bad JSON"),
    };
    assert!(e.starts_with("h.json:2:"), "{e}");
    let e = match read_str("  \n", "h.json", Format::Auto) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted an empty file"),
    };
    assert!(e.contains("empty"), "{e}");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(read_str(&deep, "d.edn", Format::Edn).is_err());
    assert!(read_str(&deep, "d.json", Format::Json).is_err());
    let deep_map = format!(
        "{{:type :invoke :process 0 :value {}}}",
        "[".repeat(100_000)
    );
    let e = read_str(&deep_map, "d.edn", Format::Edn)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nesting deeper"), "{e}");
}

#[test]
fn invalid_utf8_and_binary_garbage_are_errors() {
    let mut bytes = b"{:type :invoke :process 0 :f :read :value \"".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, b'"', b'}']);
    let r = labrys_history::read::read(&bytes[..], "u.edn", Format::Edn);
    assert!(matches!(r, Err(Error::Syntax { .. })), "{r:?}");
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for f in [Format::Auto, Format::Json, Format::Edn, Format::JepsenLog] {
        assert!(labrys_history::read::read(&garbage[..], "g", f).is_err());
    }
}

#[test]
fn json_lines_mixed_with_multi_line_records_keep_their_lines() {
    let text = "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}  \r\n{\n  \"type\": \"ok\",\n  \"process\": 0,\n  \"f\": \"read\",\n  \"value\": \"a}\"\n}\n{\"type\":\"invoke\",\"process\":1,\"f\":\"write\",\"value\":{\"k\":[1,\"}\\n\"]}}\n";
    let o = ops(text);
    assert_eq!(o.len(), 3);
    assert_eq!((o[0].line, o[1].line, o[2].line), (1, 2, 8));
    assert_eq!(o[1].value, Value::str("a}"));
    assert_eq!(
        o[2].value.get("k"),
        Some(&Value::List(vec![Value::Int(1), Value::str("}\n")]))
    );
    let e = read_str(
        "{\"type\":\"invoke\",\"process\":0}\n{\"type\":\"ok\",\"process\":0,\"value\":[1,}\n",
        "l.jsonl",
        Format::Auto,
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("l.jsonl:2:"), "{e}");
}

fn err_in(text: &str, source: &str, format: Format) -> String {
    match read_str(text, source, format) {
        Ok(h) => panic!("expected an error, got {} ops", h.ops.len()),
        Err(e) => e.to_string(),
    }
}

/// Every kind of record error names file:line:col, in every format: bad fields at the field,
/// missing fields and pairing at the record's start, bad values at the value.
#[test]
fn record_errors_name_line_and_column_in_every_format() {
    // JSON: a bad field at its key; a record without type at the record (an array element).
    let e = err_in(
        "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"type\":\"ok\",  \"process\":[1],\"f\":\"read\"}\n",
        "a.jsonl",
        Format::Auto,
    );
    assert!(e.starts_with("a.jsonl:2:16: found :process [1]"), "{e}");
    let e = err_in(
        "[{\"type\":\"invoke\",\"process\":0},\n  {\"process\":0}]",
        "b.json",
        Format::Auto,
    );
    assert!(e.starts_with("b.json:2:3: op has no :type"), "{e}");
    // EDN: the same, one map a line and inside a vector.
    let e = err_in(
        "{:type :invoke :process 0 :f :read}\n{:type :ok :f :read  :time \"x\" :process 0}\n",
        "c.edn",
        Format::Auto,
    );
    assert!(e.starts_with("c.edn:2:22: found :time \"x\""), "{e}");
    let e = err_in("[\n  {:process 0 :f :read}]", "d.edn", Format::Auto);
    assert!(e.starts_with("d.edn:2:3: op has no :type"), "{e}");
    let e = err_in(
        "[{:type :invoke :process 0 :f :read}\n #jepsen.history.Op{:type :nope :process 0}]",
        "e.edn",
        Format::Auto,
    );
    assert!(e.starts_with("e.edn:2:21: found :type :nope"), "{e}");
    // Jepsen log: a bad value at its column in the line, a pairing error at the process.
    let e = err_in(
        "INFO  jepsen.util - 2\t:invoke\t:cas\t[3 \"x]\n",
        "f.log",
        Format::Auto,
    );
    assert!(
        e.starts_with("f.log:1:42:") && e.contains("string that starts at line 1 column 39"),
        "{e}"
    );
    let e = err_in(
        "INFO  jepsen.util - 2\t:ok\t:read\t3\n",
        "g.log",
        Format::Auto,
    );
    assert!(
        e.starts_with("g.log:1:21:") && e.contains("no pending invoke"),
        "{e}"
    );
    // Pairing errors in JSON and EDN: at the record that is wrong.
    let e = err_in(
        "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n  {\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n",
        "h.jsonl",
        Format::Auto,
    );
    assert!(
        e.starts_with("h.jsonl:2:3:") && e.contains("still pending"),
        "{e}"
    );
}

/// A field missing from an invoke is blamed on the invoke, not on the completion that pairing
/// compares it with.
#[test]
fn a_missing_f_is_blamed_on_the_record_without_it() {
    let e = err_in(
        "{\"type\":\"invoke\",\"process\":0,\"value\":1}\n{\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":1}\n",
        "i.jsonl",
        Format::Auto,
    );
    assert!(
        e.starts_with("i.jsonl:1:1:") && e.contains("invoke of process 0 has no f"),
        "{e}"
    );
    let e = err_in(
        "{:type :invoke :process 0 :f :write :value 1}\n{:type :ok :process 0 :value 1}\n",
        "j.edn",
        Format::Auto,
    );
    assert!(
        e.starts_with("j.edn:2:1:") && e.contains("ok of process 0 has no f"),
        "{e}"
    );
    // Elle's txn histories write no f at all: that stays fine.
    let h = ops("{:type :invoke :process 0 :value [[:r 1 nil]]}\n{:type :ok :process 0 :value [[:r 1 [2]]]}\n");
    assert_eq!(h.len(), 2);
}

#[test]
fn client_records_need_a_process() {
    for text in [
        "{\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n{\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n",
        "[{\"type\":\"invoke\",\"process\":null,\"f\":\"write\",\"value\":1}]",
    ] {
        let e = err_in(text, "p.json", Format::Auto);
        assert!(
            e.starts_with("p.json:1:") && e.contains("expected a process"),
            "{e}"
        );
    }
    // EDN: one record without a process among records with one.
    let e = err_in(
        "{:type :invoke :process 0 :f :write :value 1}\n{:type :ok :f :write :value 1}\n",
        "q.edn",
        Format::Auto,
    );
    assert!(
        e.starts_with("q.edn:2:1:") && e.contains("expected a process"),
        "{e}"
    );
    // ... and the reverse: a process after records without one.
    let e = err_in(
        "{:type :invoke :f :write :value 1}\n{:type :ok :f :write :value 1 :process 4}\n",
        "r.edn",
        Format::Auto,
    );
    assert!(
        e.starts_with("r.edn:2:1:") && e.contains("names process 4"),
        "{e}"
    );
    // Nemesis records name their process and do not decide the file's rule.
    let h = read_str(
        "{:type :info :process :nemesis :f :start}\n{:type :invoke :f :read}\n{:type :ok :f :read :value 1}\n",
        "s.edn",
        Format::Edn,
    )
    .unwrap();
    assert!(h.processes_inferred);
    assert_eq!(h.pairs.len(), 1);
    let h = read_str(
        "{:type :invoke :process 0 :f :read}\n{:type :ok :process 0 :f :read :value 1}\n",
        "t.edn",
        Format::Edn,
    )
    .unwrap();
    assert!(!h.processes_inferred);
}

fn value_of(text: &str) -> Result<Value, String> {
    read_str(text, "n", Format::Auto)
        .map(|h| h.ops[0].value.clone())
        .map_err(|e| e.to_string())
}

/// Integers are exact at any size in JSON as in EDN; distinct numbers in the file stay
/// distinct values; floats that no 64-bit float holds are errors at their place.
#[test]
fn numbers_are_read_exactly_in_json_and_edn() {
    let json = |v: &str| {
        value_of(&format!(
            "{{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":{v}}}\n"
        ))
    };
    let edn = |v: &str| {
        value_of(&format!(
            "{{:type :invoke :process 0 :f :write :value {v}}}\n"
        ))
    };
    let big = |s: &str| Ok(Value::BigInt(s.into()));
    for read in [&json as &dyn Fn(&str) -> Result<Value, String>, &edn] {
        assert_eq!(read("18446744073709551615"), big("18446744073709551615"));
        assert_eq!(read("18446744073709551616"), big("18446744073709551616"));
        assert_eq!(read("18446744073709551617"), big("18446744073709551617"));
        assert_ne!(read("18446744073709551616"), read("18446744073709551617"));
        assert_eq!(read("-9223372036854775808"), Ok(Value::Int(i64::MIN)));
        assert_eq!(read("-9223372036854775809"), big("-9223372036854775809"));
        assert_eq!(
            read("-123456789012345678901234567890"),
            big("-123456789012345678901234567890")
        );
        assert_eq!(read("1"), Ok(Value::Int(1)));
        assert_eq!(read("1.0"), Ok(Value::Float(1.0)));
        assert_ne!(read("1"), read("1.0"), "an integer is not a float");
        assert_eq!(read("0.1"), Ok(Value::Float(0.1)));
        assert_eq!(read("0.10000000000000001"), Ok(Value::Float(0.1)));
        assert_eq!(read("-2.5e-3"), Ok(Value::Float(-0.0025)));
        assert_eq!(read("5e-324"), Ok(Value::Float(5e-324)));
        assert_eq!(
            read("18446744073709551616.0"),
            Ok(Value::Float(2f64.powi(64)))
        );
        for lossy in [
            "0.1000000000000000000001",
            "18446744073709551617.0",
            "1e-400",
            "-1.00000000000000000000000001e5",
        ] {
            let e = read(lossy).unwrap_err();
            assert!(
                e.starts_with("n:1:") && e.contains("no 64-bit float holds"),
                "{lossy}: {e}"
            );
        }
    }
    // serde_json hands -0 over as a float; it is the integer 0, and the next number is itself.
    assert_eq!(
        json("[-0, 0.5, -0.0]"),
        Ok(Value::List(vec![
            Value::Int(0),
            Value::Float(0.5),
            Value::Float(-0.0)
        ]))
    );
    // Numbers inside nested values, and after strings holding digits, are found in order.
    let v = json(r#"[{"k":"1.5e9 -7"},18446744073709551616,[2.5,-18446744073709551617]]"#).unwrap();
    assert_eq!(
        v,
        Value::List(vec![
            Value::Map(vec![(Value::str("k"), Value::str("1.5e9 -7"))]),
            Value::BigInt("18446744073709551616".into()),
            Value::List(vec![
                Value::Float(2.5),
                Value::BigInt("-18446744073709551617".into())
            ]),
        ])
    );
    // The bad number is named where it is written, inside a multi-line record.
    let e =
        value_of("[{\"type\":\"invoke\",\"process\":0,\n  \"value\": [1, 1e-999]}]").unwrap_err();
    assert!(e.starts_with("n:2:16:"), "{e}");
    assert_eq!(edn("12N"), Ok(Value::Int(12)));
    assert_eq!(edn("1.5M"), Ok(Value::Float(1.5)));
    assert!(edn("1/3").unwrap_err().contains("ratio"));
}

/// Reading counts what it builds: a record larger than a quarter of the limit, or a history
/// larger than the limit, stops reading with an error naming the record.
#[test]
fn reading_stays_within_its_memory_limit() {
    use labrys_history::read::{read_within, ReadLimits};
    let list: Vec<String> = (0..200_000).map(|i| i.to_string()).collect();
    let huge_json = format!(
        "{{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":1}}\n{{\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":[{}]}}\n",
        list.join(",")
    );
    let huge_edn = huge_json
        .replace("\"type\":", ":type ")
        .replace("\"process\":", ":process ")
        .replace("\"f\":", ":f ")
        .replace("\"value\":", ":value ")
        .replace("\"invoke\"", ":invoke")
        .replace("\"ok\"", ":ok")
        .replace("\"write\"", ":write");
    let huge_log = format!(
        "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t[{}]\n",
        list.join(" ")
    );
    for (name, text) in [
        ("m.jsonl", &huge_json),
        ("m.edn", &huge_edn),
        ("m.log", &huge_log),
    ] {
        let e = read_within(
            text.as_bytes(),
            name,
            Format::Auto,
            ReadLimits::within(1 << 20),
        )
        .unwrap_err();
        assert!(matches!(e, Error::OverMemoryLimit { .. }), "{name}: {e}");
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("{name}:2:1:")) && msg.contains("--memory-limit"),
            "{name}: {msg}"
        );
        // The same history reads when the limit allows it.
        let h = read_within(
            text.as_bytes(),
            name,
            Format::Auto,
            ReadLimits::within(1 << 30),
        )
        .unwrap();
        assert_eq!(h.ops[1].value.as_seq().map(|s| s.len()), Some(200_000));
        assert!(h.held_bytes > 200_000 * 32, "{name}: {}", h.held_bytes);
    }
    // Many small records: the running total stops reading at the record that passes it.
    let many: String = (0..20_000)
        .map(|i| format!("{{\"type\":\"invoke\",\"process\":{i},\"f\":\"read\",\"value\":null}}\n"))
        .collect();
    let e = read_within(
        many.as_bytes(),
        "t.jsonl",
        Format::Auto,
        ReadLimits::within(1 << 20),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("the history needs more than the memory limit"),
        "{e}"
    );
    let line: u32 = e.split(':').nth(1).unwrap().parse().unwrap();
    assert!((1000..20_000).contains(&line), "{e}");
}
