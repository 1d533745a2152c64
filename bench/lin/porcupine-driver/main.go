// Command porcupine-driver checks one Jepsen-style JSON Lines history (the files
// `labrys check` reads) with Porcupine, so bench/lin/vs-porcupine.sh can time both tools on
// the same input. It prints one line of JSON: verdict (valid, invalid or unknown), the
// number of calls and partitions, and the parse and check times in seconds.
//
// Usage: porcupine-driver [-workload cas-register|kv] [-initial JSON] [-timeout SECS] FILE
//
// Semantics are those labrys uses (Knossos's reading of Jepsen histories), so that the two
// tools answer the same question:
//   - ok: took effect once between invocation and completion, with the recorded result;
//   - fail: certainly did not take effect: dropped;
//   - info, or never completed: may take effect at any time after its invocation, or never.
//     Its return event goes after every other event and its result is unknown;
//   - a read that returned null from a register that can never hold null (the initial value
//     is not null and no op writes null) constrains nothing: dropped.
//
// cas-register: read / write v / cas [old new]. kv: Jepsen's independent tuples, every
// value is [key v] and each key is its own cas-register, partitioned by key (Porcupine
// checks the partitions in parallel).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/anishathalye/porcupine"
)

type record struct {
	Type    string          `json:"type"`
	F       json.RawMessage `json:"f"`
	Process json.RawMessage `json:"process"`
	Value   json.RawMessage `json:"value"`
}

const (
	opRead = iota
	opWrite
	opCas
)

// A register op's input: values are interned, so a state is one int.
type input struct {
	op   int
	a, b int // write: a; cas: a -> b
	key  int // kv partition
}

type output struct {
	value   int // read result
	unknown bool
}

// interner gives every distinct JSON value (compacted text) a small int; 0 is null.
type interner map[string]int

func (in interner) id(raw json.RawMessage) int {
	var buf bytes.Buffer
	if len(raw) == 0 {
		return 0
	}
	if err := json.Compact(&buf, raw); err != nil {
		fail("bad JSON value %s: %v", raw, err)
	}
	s := buf.String()
	if s == "null" {
		return 0
	}
	if v, ok := in[s]; ok {
		return v
	}
	v := len(in) + 1
	in[s] = v
	return v
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "porcupine-driver: "+format+"\n", args...)
	os.Exit(3)
}

func str(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func pair(raw json.RawMessage) (json.RawMessage, json.RawMessage, bool) {
	var xs []json.RawMessage
	if json.Unmarshal(raw, &xs) != nil || len(xs) != 2 {
		return nil, nil, false
	}
	return xs[0], xs[1], true
}

// A call: its invocation and completion records' positions and its outcome.
type call struct {
	invoke   int
	complete int // -1: never completed
	outcome  string
	f        string
	inValue  json.RawMessage // the invocation's value
	outValue json.RawMessage // the completion's value
}

func readCalls(path string) []call {
	f, err := os.Open(path)
	if err != nil {
		fail("%v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	var calls []call
	open := map[string]int{} // process -> index in calls
	pos := 0
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			fail("%s: record %d: %v", path, pos+1, err)
		}
		p := string(r.Process)
		if len(p) == 0 || p[0] == '"' {
			pos++ // a named process (the nemesis): not a client call
			continue
		}
		switch r.Type {
		case "invoke":
			if _, busy := open[p]; busy {
				fail("%s: process %s invokes while an op is pending", path, p)
			}
			open[p] = len(calls)
			calls = append(calls, call{invoke: pos, complete: -1, outcome: "info", f: str(r.F), inValue: r.Value})
		case "ok", "fail", "info":
			i, busy := open[p]
			if !busy {
				// A completion without invocation (a nemesis, say): not a client call.
				pos++
				continue
			}
			delete(open, p)
			calls[i].complete = pos
			calls[i].outcome = r.Type
			calls[i].outValue = r.Value
		default:
			fail("%s: record %d: unknown type %q", path, pos+1, r.Type)
		}
		pos++
	}
	if err := sc.Err(); err != nil {
		fail("%s: %v", path, err)
	}
	return calls
}

func writesNull(f string, v json.RawMessage) bool {
	null := func(r json.RawMessage) bool { return len(r) == 0 || string(bytes.TrimSpace(r)) == "null" }
	switch f {
	case "write":
		return null(v)
	case "cas":
		_, b, ok := pair(v)
		return ok && null(b)
	}
	return false
}

// events turns calls into Porcupine events (see the package comment for the semantics).
func events(values interner, calls []call, kv bool, initialNull bool) ([]porcupine.Event, int) {
	keys := interner{}
	nullPossible := initialNull
	split := func(v json.RawMessage) (int, json.RawMessage) {
		if !kv {
			return 0, v
		}
		k, x, ok := pair(v)
		if !ok {
			return -1, nil // a completion without [key v] reads as null
		}
		return keys.id(k), x
	}
	for _, c := range calls {
		_, x := split(c.inValue)
		if writesNull(c.f, x) {
			nullPossible = true
		}
	}
	// Events in record order; unknown returns after all of them.
	byPos := map[int]porcupine.Event{}
	var late []porcupine.Event
	n := 0
	for _, c := range calls {
		if c.outcome == "fail" {
			continue
		}
		known := c.outcome == "ok"
		// The key comes from the invocation; the value from the completion when the op is
		// ok (a read learns its result there), else from the invocation.
		key, _ := split(c.inValue)
		if key < 0 {
			fail("kv value %s is not a [key value] pair", c.inValue)
		}
		v := c.inValue
		if known {
			v = c.outValue
		}
		_, x := split(v)
		in := input{key: key}
		out := output{unknown: !known}
		switch c.f {
		case "read":
			if !known {
				continue // an unknown read constrains nothing
			}
			in.op = opRead
			out.value = values.id(x)
			if out.value == 0 && !nullPossible {
				continue
			}
		case "write":
			in.op = opWrite
			in.a = values.id(x)
		case "cas":
			a, b, ok := pair(x)
			if !ok {
				fail("cas value %s is not a pair [old new]", x)
			}
			in.op = opCas
			in.a, in.b = values.id(a), values.id(b)
		default:
			fail("op f %q: expected read, write or cas", c.f)
		}
		byPos[c.invoke] = porcupine.Event{Kind: porcupine.CallEvent, Value: in, Id: n}
		ret := porcupine.Event{Kind: porcupine.ReturnEvent, Value: out, Id: n}
		if known {
			byPos[c.complete] = ret
		} else {
			late = append(late, ret)
		}
		n++
	}
	maxPos := 0
	for p := range byPos {
		if p > maxPos {
			maxPos = p
		}
	}
	evs := make([]porcupine.Event, 0, 2*n)
	for p := 0; p <= maxPos; p++ {
		if e, ok := byPos[p]; ok {
			evs = append(evs, e)
		}
	}
	return append(evs, late...), n
}

func step(initial int) porcupine.Model {
	return porcupine.Model{
		Init: func() interface{} { return initial },
		Step: func(state, in, out interface{}) (bool, interface{}) {
			s := state.(int)
			i := in.(input)
			o := out.(output)
			switch i.op {
			case opRead:
				return o.unknown || o.value == s, s
			case opWrite:
				return true, i.a
			default: // cas
				if i.a == s {
					return true, i.b
				}
				// A cas that compared and failed was recorded as fail and dropped; a
				// crashed one whose compare fails changes nothing.
				return o.unknown, s
			}
		},
		Equal: func(a, b interface{}) bool { return a.(int) == b.(int) },
		Hash:  func(s interface{}) uint64 { return uint64(s.(int)) * 0x9E3779B97F4A7C15 },
		DescribeOperation: func(in, out interface{}) string {
			i := in.(input)
			o := out.(output)
			switch i.op {
			case opRead:
				return fmt.Sprintf("read -> %d", o.value)
			case opWrite:
				return fmt.Sprintf("write %d", i.a)
			}
			return fmt.Sprintf("cas %d -> %d", i.a, i.b)
		},
	}
}

func partitionByKey(history []porcupine.Event) [][]porcupine.Event {
	keyOf := map[int]int{}
	order := []int{}
	parts := map[int][]porcupine.Event{}
	for _, e := range history {
		if e.Kind == porcupine.CallEvent {
			keyOf[e.Id] = e.Value.(input).key
		}
		k := keyOf[e.Id]
		if _, seen := parts[k]; !seen {
			order = append(order, k)
		}
		parts[k] = append(parts[k], e)
	}
	out := make([][]porcupine.Event, 0, len(order))
	for _, k := range order {
		out = append(out, parts[k])
	}
	return out
}

func main() {
	workload := flag.String("workload", "cas-register", "cas-register or kv (Jepsen independent [key v] tuples)")
	initial := flag.String("initial", "null", "initial value of the register (of every key), as JSON")
	timeout := flag.Float64("timeout", 0, "give up after this many seconds of checking (0: never): verdict unknown")
	flag.Parse()
	if flag.NArg() != 1 || (*workload != "cas-register" && *workload != "kv") {
		fmt.Fprintln(os.Stderr, "usage: porcupine-driver [-workload cas-register|kv] [-initial JSON] [-timeout SECS] FILE")
		os.Exit(3)
	}
	path := flag.Arg(0)
	t0 := time.Now()
	calls := readCalls(path)
	// The initial value is interned first, before any value of the history.
	values := interner{}
	init := values.id(json.RawMessage(*initial))
	kv := *workload == "kv"
	evs, n := events(values, calls, kv, init == 0)
	model := step(init)
	parts := 1
	if kv {
		model.PartitionEvent = partitionByKey
		parts = len(partitionByKey(evs))
	}
	parse := time.Since(t0).Seconds()
	t1 := time.Now()
	res := porcupine.CheckEventsTimeout(model, evs, time.Duration(*timeout*float64(time.Second)))
	check := time.Since(t1).Seconds()
	verdict := map[porcupine.CheckResult]string{porcupine.Ok: "valid", porcupine.Illegal: "invalid", porcupine.Unknown: "unknown"}[res]
	line, _ := json.Marshal(map[string]interface{}{
		"file": path, "tool": "porcupine", "verdict": verdict, "calls": n,
		"partitions": parts, "parse_s": parse, "check_s": check,
	})
	fmt.Println(string(line))
	switch res {
	case porcupine.Illegal:
		os.Exit(1)
	case porcupine.Unknown:
		os.Exit(2)
	}
}
