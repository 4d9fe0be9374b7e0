"""Times HTTP requests, the same way inside a sandbox and on the host.

    measure.py MODE URL COUNT THREADS [CA_FILE]

MODE is "proxy" (urllib with the environment's HTTP_PROXY: what a worker
does), "direct-new" (urllib over https, a new TLS connection per request)
or "direct-keepalive" (one http.client HTTPS connection per thread, reused).
Prints one JSON object: {mode, count, threads, seconds, p50_ms, p99_ms}.
As a worker it reads its arguments from stdin instead ({"mode", "url",
"count", "threads"}).
"""
import http.client
import json
import ssl
import sys
import threading
import time
import urllib.parse
import urllib.request

if len(sys.argv) > 1:
    mode, url, count, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ca = sys.argv[5] if len(sys.argv) > 5 else None
else:
    a = json.load(sys.stdin)
    mode, url, count, threads, ca = a["mode"], a["url"], a["count"], a["threads"], None
context = ssl.create_default_context(cafile=ca) if ca else None
latencies = []
lock = threading.Lock()


def run(n):
    mine = []
    conn = None
    if mode == "direct-keepalive":
        u = urllib.parse.urlsplit(url)
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=context)
    for _ in range(n):
        t0 = time.perf_counter()
        if conn:
            conn.request("GET", urllib.parse.urlsplit(url).path)
            conn.getresponse().read()
        else:
            with urllib.request.urlopen(url, context=context) as r:
                r.read()
        mine.append(time.perf_counter() - t0)
    with lock:
        latencies.extend(mine)


start = time.perf_counter()
workers = [threading.Thread(target=run, args=(count // threads,)) for _ in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
seconds = time.perf_counter() - start
latencies.sort()
print(json.dumps({
    "mode": mode, "count": len(latencies), "threads": threads, "seconds": seconds,
    "p50_ms": latencies[len(latencies) // 2] * 1000,
    "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
}))
