#!/usr/bin/env python3
"""toykv: the smallest database worth testing. One node serves; it keeps integer registers
in a file it fsyncs before answering. A line protocol over TCP:

    get K        -> ok V | ok nil
    put K V      -> ok
    cas K OLD NEW -> ok | fail CURRENT

Usage: server.py ADDRESS PORT DATA_DIR. TOYKV_LOSE=0.1 acknowledges a tenth of the puts
without applying them: a planted bug for labrys to find.
"""
import json, os, random, socketserver, sys, threading

address, port, data_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
path = os.path.join(data_dir, "registers.json")
lose = float(os.environ.get("TOYKV_LOSE", "0"))
lock = threading.Lock()
registers = json.load(open(path)) if os.path.exists(path) else {}


def save():
    with open(path + ".tmp", "w") as f:
        json.dump(registers, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            cmd, key, *args = line.decode().split()
            with lock:
                current = registers.get(key)
                if cmd == "get":
                    reply = f"ok {current if current is not None else 'nil'}"
                elif cmd == "put":
                    if random.random() >= lose:
                        registers[key] = args[0]
                        save()
                    reply = "ok"
                elif cmd == "cas" and current == args[0]:
                    registers[key] = args[1]
                    save()
                    reply = "ok"
                elif cmd == "cas":
                    reply = f"fail {current}"
                else:
                    reply = "error unknown command"
            self.wfile.write((reply + "\n").encode())


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


print(f"toykv on {address}:{port}, data in {data_dir}, losing {lose:.0%} of puts", flush=True)
Server((address, port), Handler).serve_forever()
