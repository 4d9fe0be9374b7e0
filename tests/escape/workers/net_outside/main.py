# Reaches addresses outside the sandbox: public DNS resolvers over TCP, a
# name lookup, and the host's own non-loopback addresses the runner passes.
import socket
from esc import args, Report

r = Report()
for host in ["1.1.1.1", "8.8.8.8"] + args.get("host_addrs", []):
    for port in (53, 80):
        def connect(host=host, port=port):
            socket.create_connection((host, port), timeout=2).close()
        r.oserror("TCP to %s:%d" % (host, port), connect)
try:
    r.note("resolve example.com", True, socket.gethostbyname("example.com"))
except OSError as e:
    r.note("resolve example.com", False, str(e))
r.done()
