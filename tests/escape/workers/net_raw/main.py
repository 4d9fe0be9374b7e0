# Opens sockets that reach below TCP and UDP or out of the network namespace:
# raw IP, packet, netlink (routing, audit), vsock (the VM's host side).
import socket
from esc import Report

r = Report()
tries = [("raw IP", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
         ("packet", socket.AF_PACKET, socket.SOCK_RAW, 0x0300),
         ("netlink route", socket.AF_NETLINK, socket.SOCK_RAW, 0),
         ("netlink audit", socket.AF_NETLINK, socket.SOCK_RAW, 9),
         ("vsock", 40, socket.SOCK_STREAM, 0),
         ("IPv6 raw", socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)]
for what, family, kind, proto in tries:
    r.oserror("%s socket" % what, lambda: socket.socket(family, kind, proto).close())
r.done()
