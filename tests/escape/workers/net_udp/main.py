# Sends UDP datagrams to the runner's sentinel on the host's 127.0.0.1 and to
# an outside resolver; the runner checks that the sentinel received none.
import socket
from esc import args, Report

r = Report()
for host, port in (("127.0.0.1", args["sentinel_udp"]), ("8.8.8.8", 53)):
    def send(host=host, port=port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"escaped " + args["tag"].encode(), (host, port))
        s.close()
    # A datagram that leaves without error proves nothing by itself (the
    # sandbox's loopback has its own 127.0.0.1): only the sentinel can tell.
    try:
        send()
        r.note("UDP to %s:%d" % (host, port), False, "sent (the host decides)")
    except OSError as e:
        r.note("UDP to %s:%d" % (host, port), False, str(e))
r.done()
