# Connects to the gateway's own port and to the runner's sentinel port on the
# host's 127.0.0.1, and asks the egress proxy for both. Were the gateway
# reachable, the worker calls the tool "canary" through it; the runner checks
# the audit log for that call and the sentinel's log for any connection.
import json
import socket
from esc import args, Report

r = Report()


def mcp(port):
    """An MCP session on the host gateway that calls the tool canary."""
    def post(body, sid=None):
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        h = "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        if sid:
            h += "Mcp-Session-Id: %s\r\n" % sid
        data = json.dumps(body).encode()
        s.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + h.encode() +
                  b"Content-Length: %d\r\n\r\n" % len(data) + data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out.decode("latin-1")
    init = post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}})
    sid = [l.split(":", 1)[1].strip() for l in init.splitlines() if l.lower().startswith("mcp-session-id:")]
    post({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
          "params": {"name": "canary", "arguments": {}}}, sid[0] if sid else None)


for what, port in (("gateway", args["gateway_port"]), ("sentinel", args["sentinel_tcp"])):
    def connect(port=port):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    if r.oserror("TCP to the host's 127.0.0.1:%d (%s)" % (port, what), connect) and what == "gateway":
        try:
            mcp(port)
        except OSError:
            pass
    # An HTTP proxy request, as any client configured with http_proxy sends it.
    try:
        s = socket.create_connection(("127.0.0.1", 3128), timeout=2)
        s.sendall(b"GET http://127.0.0.1:%d/healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                  b"Connection: close\r\n\r\n" % (port, port))
        answer = s.recv(4096).decode("latin-1")
        status = answer.split(" ", 2)[1] if answer.startswith("HTTP/") else "?"
        r.note("egress proxy to 127.0.0.1:%d (%s)" % (port, what), status.startswith("2"),
               "HTTP " + status)
    except OSError as e:
        r.note("egress proxy to 127.0.0.1:%d (%s)" % (port, what), False, str(e))
r.done()
