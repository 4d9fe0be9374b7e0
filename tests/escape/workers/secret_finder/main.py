# Looks for what an earlier call (of this tenant or another) left: the places
# it writes to, and every process's command line and environment. Prints what
# it finds; the runner checks that the earlier call's secret is not in it.
import os
from esc import Report

r = Report()
found = {}
for d in ("/job", "/tmp", "/dev/shm", "/var/tmp", "/"):
    try:
        names = os.listdir(d)
    except OSError:
        continue
    for n in names:
        p = os.path.join(d, n)
        if n.startswith("escape-") and os.path.isfile(p):
            with open(p, errors="replace") as f:
                found[p] = f.read(200)
for pid in filter(str.isdigit, os.listdir("/proc")):
    for what in ("cmdline", "environ"):
        try:
            with open("/proc/%s/%s" % (pid, what), "rb") as f:
                text = f.read(4096).replace(b"\0", b" ").decode("latin-1")
            if "esc-" in text:
                found["/proc/%s/%s" % (pid, what)] = text
        except OSError:
            pass
r.note("another call's traces", bool(found), ", ".join(found) or "none")
r.done(found=found)
