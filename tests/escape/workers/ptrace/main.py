# ptrace: attach to the sandbox's init and to a child of its own, seize, and
# PTRACE_TRACEME (which would let a parent trace the worker); every request
# detaches at once should it have worked.
import os
import time
from esc import libc_call, Report

PTRACE_TRACEME, PTRACE_ATTACH, PTRACE_DETACH, PTRACE_SEIZE = 0, 16, 17, 0x4206
r = Report()
child = os.fork()
if child == 0:
    time.sleep(3)
    os._exit(0)
for what, req, pid in (("PTRACE_ATTACH pid 1", PTRACE_ATTACH, 1),
                       ("PTRACE_ATTACH own child", PTRACE_ATTACH, child),
                       ("PTRACE_SEIZE pid 1", PTRACE_SEIZE, 1)):
    res = libc_call("ptrace", req, pid, None, None)
    r.syscall(what, res)
    if res[0] >= 0:
        libc_call("ptrace", PTRACE_DETACH, pid, None, None)
pid = os.fork()
if pid == 0:
    os._exit(0 if libc_call("ptrace", PTRACE_TRACEME, 0, None, None)[0] < 0 else 1)
_, status = os.waitpid(pid, 0)
r.note("PTRACE_TRACEME", os.WEXITSTATUS(status) != 0, "refused" if os.WEXITSTATUS(status) == 0 else "allowed")
os.kill(child, 9)
r.done()
