#!/usr/bin/env python3
# A small HTTP/1.1 server for the curl plugin's tests, for the behaviours
# nginx will not show on demand.  It serves one file on 127.0.0.1, on a
# port the kernel picks (written to PORTFILE once listening), one thread
# per connection:
#
#   test-http-server.py MODE FILE PORTFILE LOGFILE [DELAY]
#
#   norange  ignores Range, as a server is allowed to: every GET gets
#            200 and the whole file (the plugin must refuse it)
#   fickle   honours Range only for the first byte (the plugin's check
#            at startup) and ignores it for every other request, as a
#            server reconfigured behind a load balancer might
#   record   honours Range and appends each request's method, path and
#            headers to LOGFILE as a JSON line (the aws-sigv4= test
#            checks the signature headers libcurl sent)
#   slow     honours Range, but waits DELAY seconds before each GET's
#            answer (shows how many reads are on the wire at once; the
#            number of GETs in progress at once is logged)
import http.server
import json
import os
import re
import sys
import threading
import time

mode, path, portfile, logfile = sys.argv[1:5]
delay = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
data = open(path, "rb").read()
lock = threading.Lock()
in_flight = 0


def log(entry):
    with lock:
        with open(logfile, "a") as f:
            f.write(json.dumps(entry) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, body):
        global in_flight
        if mode == "record":
            log({"method": self.command, "path": self.path,
                 "headers": {k.lower(): v for k, v in self.headers.items()}})
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-(\d+)", rng or "")
        if mode == "slow" and body:
            with lock:
                in_flight += 1
                now = in_flight
            log({"in_flight": now})
            time.sleep(delay)
            with lock:
                in_flight -= 1
        honour = mode not in ("norange", "fickle") or \
            (mode == "fickle" and rng == "bytes=0-0")
        if honour and m:
            a, b = int(m.group(1)), int(m.group(2))
            b = min(b, len(data) - 1)
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (a, b, len(data)))
            part = data[a:b + 1]
        else:
            self.send_response(200)
            part = data
        self.send_header("Content-Length", str(len(part)))
        self.send_header("Accept-Ranges", "none" if mode == "norange" else "bytes")
        self.end_headers()
        if body:
            try:
                self.wfile.write(part)
            except (BrokenPipeError, ConnectionResetError):
                pass

    def do_GET(self):
        self.answer(True)

    def do_HEAD(self):
        self.answer(False)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
