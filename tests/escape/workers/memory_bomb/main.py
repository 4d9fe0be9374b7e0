# Touches 2 GiB, far past a sandbox's memory (the jail's cgroup, the VM's RAM);
# reports only if it got it all.
from esc import Report

blocks = []
for _ in range(2048):
    b = bytearray(1 << 20)
    b[::4096] = b"x" * len(b[::4096])
    blocks.append(b)
r = Report()
r.note("allocate 2 GiB", True, "%d MiB" % len(blocks))
r.done()
