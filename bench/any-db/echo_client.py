#!/usr/bin/env python3
"""The cheapest correct client: unique-ids answered from this process's own counter.

Ids are `<process>-<n>`, unique because labrys never gives two subprocesses the same process.
"""
import json
import os
import sys

me = os.environ["LABRYS_PROCESS"]
n = 0
out = sys.stdout
for line in sys.stdin:
    req = json.loads(line)
    n += 1
    out.write(json.dumps({"id": req["id"], "type": "ok", "value": f"{me}-{n}"}) + "\n")
    out.flush()
