#!/usr/bin/env python3
"""A labrys client for Redis over its text protocol (RESP), standard library only.

It speaks docs/client-protocol.md: one JSON request per line on stdin, one reply per line on
stdout. Every write goes to the primary (the first node); reads go there too, unless
READS=local, which reads from the node this worker was given (a replica, for all but n1):
Redis does not promise replica reads are up to date, and labrys should catch them under
partitions.

Workloads (LABRYS_WORKLOAD):
  register    read / write / cas on integer keys   (GET, SET, a Lua compare-and-set)
  counter     add n / read                         (INCRBY, GET)
  set         add v / read                         (SADD, SMEMBERS)
  unique-ids  generate                             (INCR)
  queue       enqueue v / dequeue / drain          (RPUSH, LPOP, a Lua LRANGE+DEL)
"""
import json
import os
import socket
import sys

WORKLOAD = os.environ.get("LABRYS_WORKLOAD", "register")
NODES = [m.split("=", 1)[1] for m in os.environ["LABRYS_NODES"].split(",")]
PRIMARY = NODES[0]
LOCAL = os.environ["LABRYS_NODE_HOST"]
READ_FROM = LOCAL if os.environ.get("READS") == "local" else PRIMARY
PORT = int(os.environ.get("REDIS_PORT", "6379"))
TIMEOUT = 1.0  # below labrys's op timeout: an answer, or info, before labrys gives up

CAS = """local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end
return 0"""
DRAIN = """local xs = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return xs"""


class RedisError(Exception):
    """The server answered with an error: the command did not run."""


class NotSent(Exception):
    """The connection could not be made: nothing was sent."""


class Conn:
    """One connection, opened on first use and dropped after any network error."""

    def __init__(self, host):
        self.host, self.sock, self.buf = host, None, b""

    def call(self, *args):
        if self.sock is None:
            try:
                self.sock = socket.create_connection((self.host, PORT), timeout=TIMEOUT)
            except OSError as e:
                raise NotSent(f"connecting to {self.host}:{PORT}: {e}") from e
            self.buf = b""
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        try:
            self.sock.sendall(b"".join(out))
            return self.reply()
        except (OSError, EOFError):
            self.sock.close()
            self.sock = None
            raise

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exactly(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.exactly(n).decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise EOFError(f"unexpected reply {line!r}")


primary = Conn(PRIMARY)
reader = primary if READ_FROM == PRIMARY else Conn(READ_FROM)


def num(x):
    return None if x is None else int(x)


def handle(f, value):
    """The reply for one request; the op's type when nothing goes wrong."""
    if WORKLOAD == "register":
        key, arg = value
        k = f"r:{key}"
        if f == "read":
            return {"type": "ok", "value": [key, num(reader.call("GET", k))]}
        if f == "write":
            primary.call("SET", k, arg)
            return {"type": "ok"}
        if f == "cas":
            if primary.call("EVAL", CAS, 1, k, arg[0], arg[1]) == 1:
                return {"type": "ok"}
            return {"type": "fail", "error": "compare failed"}
    elif WORKLOAD == "counter":
        if f == "add":
            primary.call("INCRBY", "counter", value)
            return {"type": "ok"}
        if f == "read":
            return {"type": "ok", "value": num(reader.call("GET", "counter")) or 0}
    elif WORKLOAD == "set":
        if f == "add":
            primary.call("SADD", "set", value)
            return {"type": "ok"}
        if f == "read":
            return {"type": "ok", "value": sorted(int(x) for x in reader.call("SMEMBERS", "set"))}
    elif WORKLOAD == "unique-ids":
        if f == "generate":
            return {"type": "ok", "value": primary.call("INCR", "ids")}
    elif WORKLOAD == "queue":
        if f == "enqueue":
            primary.call("RPUSH", "queue", value)
            return {"type": "ok"}
        if f == "dequeue":
            return {"type": "ok", "value": num(primary.call("LPOP", "queue"))}
        if f == "drain":
            return {"type": "ok", "value": [int(x) for x in primary.call("EVAL", DRAIN, 1, "queue")]}
    return {"type": "fail", "error": f"{WORKLOAD} has no op {f!r}"}


# Ops that change nothing when they fail: a failed read is certainly a fail.
READS = {"read"}

# stderr is for people: labrys keeps it in the run folder's clients.log.
print(f"process {os.environ.get('LABRYS_PROCESS')}: {WORKLOAD}, writes to {PRIMARY}:{PORT}, "
      f"reads from {READ_FROM}:{PORT}", file=sys.stderr, flush=True)

for line in sys.stdin:
    req = json.loads(line)
    f = req["f"]
    try:
        reply = handle(f, req["value"])
    except NotSent as e:
        reply = {"type": "fail", "error": str(e)}
    except RedisError as e:
        # An error reply: the command was refused (READONLY, LOADING, OOM...). A Lua script
        # can fail halfway, but ours write last.
        reply = {"type": "fail", "error": str(e)}
    except (OSError, EOFError) as e:
        # Sent, and no answer: it may have happened. A read changes nothing either way.
        reply = {"type": "fail" if f in READS else "info", "error": str(e) or type(e).__name__}
    reply["id"] = req["id"]
    print(json.dumps(reply), flush=True)
