# Lists every process /proc shows. A sandbox's own are its init (the jail's
# toolgate-agent, the guest's /init), the worker, and in a microVM the guest
# kernel's threads (no command line); anything else came from outside. The
# runner also checks that no host process (the gateway, its sentinel) is named.
import os
from esc import Report

r = Report()
cmdlines = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            cmdlines[pid] = f.read(200).replace(b"\0", b" ").decode("latin-1").strip()
    except OSError:
        cmdlines[pid] = "?"
own = ("", "/init", "python3 /job/main.py")
foreign = sorted(c for c in cmdlines.values() if not (c in own or c.startswith("toolgate-agent ")))
r.note("processes not the sandbox's own", foreign, "%d of %d: %s" % (len(foreign), len(cmdlines), foreign))
r.done(processes=cmdlines)
