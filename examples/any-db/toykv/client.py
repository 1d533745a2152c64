#!/usr/bin/env python3
"""A labrys client for toykv (docs/client-protocol.md), the register workload. Every op goes
to the first node, the one that serves."""
import json, os, socket, sys

host = os.environ["LABRYS_NODES"].split(",")[0].split("=")[1]
port = int(os.environ.get("TOYKV_PORT", "7000"))
conn = None


def call(line):
    global conn
    if conn is None:
        conn = socket.create_connection((host, port), timeout=1).makefile("rw")
    conn.write(line + "\n")
    conn.flush()
    reply = conn.readline().split()
    if not reply:
        raise ConnectionError("connection closed")
    return reply


for request in sys.stdin:
    req = json.loads(request)
    f, (key, value) = req["f"], req["value"]
    try:
        if f == "read":
            _, v = call(f"get {key}")
            reply = {"type": "ok", "value": [key, None if v == "nil" else int(v)]}
        elif f == "write":
            call(f"put {key} {value}")
            reply = {"type": "ok"}
        else:
            ok = call(f"cas {key} {value[0]} {value[1]}")[0] == "ok"
            reply = {"type": "ok"} if ok else {"type": "fail", "error": "compare failed"}
    except ConnectionRefusedError as e:
        reply = {"type": "fail", "error": str(e)}  # never sent
    except (OSError, ValueError) as e:
        conn = None
        # Sent, no answer: a write may have happened; a read changed nothing.
        reply = {"type": "fail" if f == "read" else "info", "error": str(e)}
    reply["id"] = req["id"]
    print(json.dumps(reply), flush=True)
