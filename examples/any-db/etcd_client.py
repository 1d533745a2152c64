#!/usr/bin/env python3
"""A labrys client for etcd's v3 JSON gateway, standard library only.

It speaks docs/client-protocol.md: one JSON request per line on stdin, one reply per line on
stdout. The `register` workload: read, write and compare-and-set on integer keys.

Reads are linearizable by default; READS=serializable asks etcd for its local, possibly stale
reads, which labrys should catch under partitions.
"""
import base64
import json
import os
import socket
import sys
import urllib.error
import urllib.request

HOST = os.environ["LABRYS_NODE_HOST"]
PORT = os.environ.get("ETCD_PORT", "2379")
SERIALIZABLE = os.environ.get("READS") == "serializable"
TIMEOUT = 1.0  # below labrys's op timeout: an answer, or info, before labrys gives up


def b64(x):
    return base64.b64encode(str(x).encode()).decode()


def call(path, body):
    req = urllib.request.Request(
        f"http://{HOST}:{PORT}/v3/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
        return json.loads(r.read())


def value_of(kvs):
    return int(base64.b64decode(kvs[0]["value"])) if kvs else None


def handle(f, key, arg):
    k = b64(f"r{key}")
    if f == "read":
        out = call("kv/range", {"key": k, "serializable": SERIALIZABLE})
        return {"type": "ok", "value": [key, value_of(out.get("kvs", []))]}
    if f == "write":
        call("kv/put", {"key": k, "value": b64(arg)})
        return {"type": "ok"}
    if f == "cas":
        old, new = arg
        out = call("kv/txn", {
            "compare": [{"key": k, "target": "VALUE", "result": "EQUAL", "value": b64(old)}],
            "success": [{"requestPut": {"key": k, "value": b64(new)}}],
        })
        if out.get("succeeded"):
            return {"type": "ok"}
        return {"type": "fail", "error": "compare failed"}
    return {"type": "fail", "error": f"unknown f {f!r}"}


# stderr is for people: labrys keeps it in the run folder's clients.log.
print(f"process {os.environ.get('LABRYS_PROCESS')}: talking to {HOST}:{PORT}"
      f"{' (serializable reads)' if SERIALIZABLE else ''}", file=sys.stderr, flush=True)

for line in sys.stdin:
    req = json.loads(line)
    f, (key, arg) = req["f"], req["value"]
    try:
        reply = handle(f, key, arg)
    except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        # Refused before anything was sent, or a read: certainly no effect. Otherwise unknown.
        refused = isinstance(reason, ConnectionRefusedError)
        kind = "fail" if refused or f == "read" else "info"
        reply = {"type": kind, "error": str(reason)}
    except urllib.error.HTTPError as e:
        reply = {"type": "fail" if f == "read" else "info", "error": f"HTTP {e.code}"}
    reply["id"] = req["id"]
    print(json.dumps(reply), flush=True)
