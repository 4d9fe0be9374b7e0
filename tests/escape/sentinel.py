"""The host side's tripwire: listens where an escaped worker would knock
(TCP and UDP on 127.0.0.1, a unix socket by path and by abstract name) and
logs every connection or datagram, one line each, to LOG.

    sentinel.py DIR   (writes DIR/sentinel.json with its ports, DIR/sentinel.log)"""
import json
import os
import secrets
import selectors
import socket
import sys

d = sys.argv[1]
log = open(os.path.join(d, "sentinel.log"), "a", buffering=1)
sel = selectors.DefaultSelector()

tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
tcp.bind(("127.0.0.1", 0))
tcp.listen(16)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 0))
unix_path = os.path.join(d, "sentinel.sock")
unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
unix.bind(unix_path)
os.chmod(unix_path, 0o777)
unix.listen(16)
abstract_name = "toolgate-escape-" + secrets.token_hex(8)
abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
abstract.bind("\0" + abstract_name)
abstract.listen(16)
for s, what in ((tcp, "tcp"), (unix, "unix"), (abstract, "abstract")):
    sel.register(s, selectors.EVENT_READ, what)
sel.register(udp, selectors.EVENT_READ, "udp")

with open(os.path.join(d, "sentinel.json.tmp"), "w") as f:
    json.dump({"tcp": tcp.getsockname()[1], "udp": udp.getsockname()[1], "unix": unix_path,
               "abstract": abstract_name, "pid": os.getpid()}, f)
os.rename(os.path.join(d, "sentinel.json.tmp"), os.path.join(d, "sentinel.json"))

while True:
    for key, _ in sel.select():
        if key.data == "udp":
            data, peer = udp.recvfrom(4096)
            log.write("udp from %s: %r\n" % (peer, data[:100]))
        else:
            conn, peer = key.fileobj.accept()
            log.write("%s connection from %r\n" % (key.data, peer))
            conn.close()
