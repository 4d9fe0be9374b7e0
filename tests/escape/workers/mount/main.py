# Changes the mount table: a new tmpfs, / read-write again, a bind mount of
# /proc, /proc unmounted; then writes to / to see whether it became writable.
import os
from esc import libc_call, Report

MS_REMOUNT, MS_BIND = 32, 4096
r = Report()
os.makedirs("/job/m", exist_ok=True)
r.syscall("mount tmpfs", libc_call("mount", b"tmpfs", b"/job/m", b"tmpfs", 0, None))
r.syscall("remount / read-write", libc_call("mount", None, b"/", None, MS_REMOUNT, None))
r.syscall("remount / read-write (bind)", libc_call("mount", None, b"/", None, MS_REMOUNT | MS_BIND, None))
r.syscall("bind /proc", libc_call("mount", b"/proc", b"/job/m", None, MS_BIND, None))
r.syscall("umount /proc", libc_call("umount2", b"/proc", 2))


def write_root():
    with open("/escaped", "w") as f:
        f.write("x")


r.oserror("write /escaped", write_root)
r.done()
