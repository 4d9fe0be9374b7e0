# Loads a kernel module three ways. The image is empty, so a kernel that let
# the call through would still load nothing: only the error tells whether the
# permission check held (EPERM) or was passed (ENOEXEC and the like). The
# runner compares the host's /proc/modules before and after.
import os
import subprocess
from esc import sys_call, Report

r = Report()
r.syscall("init_module", sys_call("init_module", b"\0" * 64, 64, b""))
fd = os.open("/dev/null", os.O_RDONLY)
r.syscall("finit_module", sys_call("finit_module", fd, b"", 0))
for cmd in (["modprobe", "dummy"], ["busybox", "modprobe", "dummy"], ["busybox", "insmod", "/dev/null"]):
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=3)
        r.note(" ".join(cmd), p.returncode == 0, "exit %d" % p.returncode)
    except OSError as e:
        r.note(" ".join(cmd), False, str(e))
r.done()
