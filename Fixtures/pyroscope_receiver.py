#!/usr/bin/env python3
"""A stand-in for Pyroscope's ingest endpoint (no Pyroscope server can be
installed here): accepts POST /ingest, stores each request as
<dir>/<n>.json (path, query, headers) and <dir>/<n>.body, answers 200.
Prints the port it listens on (127.0.0.1, an ephemeral port) and runs until killed.
--delay SECONDS holds every answer that long (a slow or hung server).
Usage: pyroscope_receiver.py DIR [--status CODE] [--delay SECONDS]"""
import http.server
import json
import os
import sys
import threading
import time

directory = sys.argv[1]
status = int(sys.argv[sys.argv.index("--status") + 1]) if "--status" in sys.argv else 200
delay = float(sys.argv[sys.argv.index("--delay") + 1]) if "--delay" in sys.argv else 0
counter = {"n": 0}
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with lock:
            counter["n"] += 1
            n = counter["n"]
        with open(os.path.join(directory, f"{n}.body"), "wb") as f:
            f.write(body)
        meta = {"path": self.path, "headers": dict(self.headers.items())}
        with open(os.path.join(directory, f"{n}.json.tmp"), "w") as f:
            json.dump(meta, f)
        os.rename(os.path.join(directory, f"{n}.json.tmp"), os.path.join(directory, f"{n}.json"))
        time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
