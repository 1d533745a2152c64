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
