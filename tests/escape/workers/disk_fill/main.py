# Writes to /job until refused, and tries every other place that might take a
# file. /job is bounded (64 MiB of tmpfs, RLIMIT_FSIZE): more than twice that
# means the bound is missing.
import os
from esc import Report

r = Report()
written = 0
chunk = b"\0" * (1 << 20)
try:
    for i in range(1024):
        with open("/job/fill.%d" % i, "wb") as f:
            for _ in range(16):
                f.write(chunk)
                f.flush()
                written += len(chunk)
except OSError as e:
    r.note("fill /job", written > (128 << 20), "%d MiB, then %s" % (written >> 20, e.strerror))
else:
    r.note("fill /job", True, "%d MiB without an error" % (written >> 20))
for d in ("/", "/tmp", "/dev/shm", "/usr", "/var/tmp", "/bin"):
    def write(d=d):
        with open(os.path.join(d, "escape-fill"), "wb") as f:
            f.write(chunk)
    r.oserror("write in " + d, write)
r.done()
