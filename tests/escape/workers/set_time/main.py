# Sets the clock. The value set is the current time, so that a kernel that
# let it through changes nothing; only the error tells whether it would have.
import ctypes
import subprocess
import time
from esc import libc_call, Report


class Timeval(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("usec", ctypes.c_long)]


class Timespec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]


r = Report()
now = time.time()
r.syscall("settimeofday", libc_call("settimeofday", ctypes.byref(Timeval(int(now), int(now % 1 * 1e6))), None))
now = time.time()
r.syscall("clock_settime", libc_call("clock_settime", 0, ctypes.byref(Timespec(int(now), int(now % 1 * 1e9)))))
stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
# busybox date reports a refused change on stderr and still exits 0.
p = subprocess.run(["busybox", "date", "-u", "-s", stamp], capture_output=True)
refused = p.returncode != 0 or b"can't set" in p.stderr
r.note("date -s", not refused, p.stderr.decode(errors="replace").strip() or "exit %d" % p.returncode)
r.done()
