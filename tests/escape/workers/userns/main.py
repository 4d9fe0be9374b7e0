# A user namespace gives a process every capability inside it: the usual
# first step of a kernel exploit. unshare, clone with CLONE_NEWUSER (and the
# other namespaces), and busybox's unshare -U.
import os
import signal
import subprocess
from esc import libc_call, sys_call, Report

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x10000000, 0x20000000, 0x40000000
r = Report()
r.syscall("unshare(CLONE_NEWUSER)", libc_call("unshare", CLONE_NEWUSER))
r.syscall("unshare(CLONE_NEWNS)", libc_call("unshare", CLONE_NEWNS))
for what, flag in (("user", CLONE_NEWUSER), ("pid", CLONE_NEWPID), ("net", CLONE_NEWNET)):
    res = sys_call("clone", flag | signal.SIGCHLD, None, None, None, None)
    if res[0] == 0:
        os._exit(0)
    if res[0] > 0:
        os.waitpid(res[0], 0)
    r.syscall("clone(CLONE_NEW%s)" % what.upper(), res)
p = subprocess.run(["busybox", "unshare", "-U", "-r", "true"], capture_output=True)
r.note("unshare -U -r", p.returncode == 0, "exit %d" % p.returncode)
r.done()
