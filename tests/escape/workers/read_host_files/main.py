# Reads files only the host has: a secret file the runner wrote, the gateway's
# data dir, /etc/shadow, and the same through /proc/1/root; and looks for host
# mounts in /proc/self/mountinfo. The runner checks that the secret's content
# never shows up in the answer.
import os
from esc import args, Report

r = Report()
found = {}
paths = ["/etc/shadow", args["host_secret_path"], os.path.join(args["data_dir"], "registry.db")]
for p in paths + ["/proc/1/root" + p for p in paths]:
    def read(p=p):
        with open(p, "rb") as f:
            found[p] = f.read(200).decode("latin-1")
    r.oserror("read " + p, read)
# The data dir and the runner's directory are host paths: seeing one mounted
# means a host directory is reachable.
with open("/proc/self/mountinfo") as f:
    mounts = f.read()
host_dirs = [d for d in (args["data_dir"], os.path.dirname(args["host_secret_path"])) if d in mounts]
r.note("host directories in /proc/self/mountinfo", bool(host_dirs), ",".join(host_dirs) or "none")
r.done(read=found)
