"""A real HTTPS upstream for the egress tests and benchmark.

    upstream.py CERT KEY PORT_FILE LOG_FILE [LIFETIME_S]

Listens on 127.0.0.1 (a port it picks, written to PORT_FILE), speaks HTTP/1.1
with keep-alive over TLS, appends one JSON line per request it receives to
LOG_FILE ({method, path, query, headers, body}), and answers:

  .../redirect?to=U&code=C   C (302 by default) with Location: U
  .../slow?ms=N          waits N ms, then 200
  .../big?bytes=N        200 with N bytes of 'x'
  .../status?code=N      N with a short JSON body
  anything else          200, JSON of what it received (headers included),
                         the Authorization and X- headers echoed as X-Echo-*

It stops by itself after LIFETIME_S seconds (default 600).
"""
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

cert, key, port_file, log_file = sys.argv[1:5]
lifetime = float(sys.argv[5]) if len(sys.argv) > 5 else 600
log_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The head and the body go out in separate writes: with Nagle's
    # algorithm a kept-alive client would wait out a delayed ACK (40 ms) on
    # every response, and measure that instead of the request.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        seen = {
            "method": self.command,
            "path": url.path,
            "query": url.query,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.decode("utf-8", "replace"),
        }
        with log_lock, open(log_file, "a") as f:
            f.write(json.dumps(seen) + "\n")
        status, headers, out = 200, {"Content-Type": "application/json"}, None
        if "/redirect" in url.path:
            status = int(query.get("code", ["302"])[0])
            headers["Location"] = query["to"][0]
            out = b"{}"
        elif "/slow" in url.path:
            time.sleep(int(query.get("ms", ["1000"])[0]) / 1000)
            out = b'{"slow": true}'
        elif "/big" in url.path:
            headers["Content-Type"] = "text/plain"
            out = b"x" * int(query.get("bytes", ["0"])[0])
        elif "/status" in url.path:
            status = int(query.get("code", ["200"])[0])
            out = json.dumps({"status": status}).encode()
        else:
            # Echo, with the headers also echoed as response headers: an
            # upstream that reflects what it got is what redaction is for.
            for k, v in self.headers.items():
                if k.lower().startswith("authorization") or k.lower().startswith("x-"):
                    headers["X-Echo-" + k] = v
            out = json.dumps(seen).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any


class Server(ThreadingHTTPServer):
    # A client that stops reading (a response over its limit) is expected.
    def handle_error(self, request, client_address):
        pass


server = Server(("127.0.0.1", 0), Handler)
server.daemon_threads = True
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
threading.Timer(lifetime, server.shutdown).start()
server.serve_forever()
