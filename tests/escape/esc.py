"""What every python3 escape worker shares: the call's arguments, system
calls through libc with their errno, and the report it prints.

A worker reports {"escaped": bool, "detail": str}; the runner checks what it
can from the host as well, so a worker that lies or is wrong cannot make an
escape pass unnoticed. Copied beside each python3 worker by run.sh."""
import ctypes
import errno
import json
import os
import platform
import sys

args = json.load(sys.stdin)
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

# The few system calls libc has no wrapper for, by architecture.
NR = {
    "x86_64": {"init_module": 175, "finit_module": 313, "keyctl": 250, "add_key": 248,
               "perf_event_open": 298, "bpf": 321, "io_uring_setup": 425,
               "userfaultfd": 323, "clone": 56, "open_by_handle_at": 304, "kexec_load": 246},
    "aarch64": {"init_module": 105, "finit_module": 273, "keyctl": 219, "add_key": 217,
                "perf_event_open": 241, "bpf": 280, "io_uring_setup": 425,
                "userfaultfd": 282, "clone": 220, "open_by_handle_at": 265, "kexec_load": 104},
}[platform.machine()]

# Errors that mean the kernel (or the seccomp filter) refused on permission,
# or does not offer the call at all: the outcomes a contained worker gets.
REFUSED = {errno.EPERM, errno.EACCES, errno.ENOSYS, errno.EROFS}


def _arg(x):
    if x is None:
        return ctypes.c_void_p(None)
    if isinstance(x, bytes):
        return ctypes.c_char_p(x)
    if isinstance(x, int):
        return ctypes.c_long(x)
    return x


def sys_call(name, *a):
    """The raw system call NAME: (return value, errno name or "")."""
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(NR[name]), *[_arg(x) for x in a])
    return r, errno.errorcode.get(ctypes.get_errno(), "") if r < 0 else ""


def libc_call(fn, *a):
    """libc's FN: (return value, errno name or "")."""
    ctypes.set_errno(0)
    r = getattr(libc, fn)(*[_arg(x) for x in a])
    return r, errno.errorcode.get(ctypes.get_errno(), "") if r < 0 else ""


def refused(err):
    return err in {errno.errorcode[e] for e in REFUSED}


class Report:
    """Attempts and their outcomes; escaped when any attempt got through."""

    def __init__(self):
        self.escaped = False
        self.lines = []

    def note(self, what, got_through, outcome):
        self.escaped |= bool(got_through)
        self.lines.append("%s: %s%s" % (what, "GOT THROUGH " if got_through else "", outcome))

    def syscall(self, what, result):
        """Notes a (ret, err) pair: anything but a refusal got through."""
        ret, err = result
        self.note(what, ret >= 0 or not refused(err), err or "returned %d" % ret)

    def oserror(self, what, fn):
        """Runs fn: any OSError means the attempt failed, its return got through."""
        try:
            fn()
        except OSError as e:
            self.note(what, False, errno.errorcode.get(e.errno) or str(e) or type(e).__name__)
            return False
        self.note(what, True, "succeeded")
        return True

    def done(self, **extra):
        # Were anything on the host visible, this is where it would show.
        marker = args.get("marker_dir")
        if marker:
            try:
                with open(os.path.join(marker, "marker"), "w") as f:
                    f.write("escaped\n")
                self.note("write a marker on the host", True, marker)
            except OSError as e:
                self.note("write a marker on the host", False, errno.errorcode.get(e.errno, ""))
        out = {"escaped": self.escaped, "detail": "; ".join(self.lines)}
        out.update(extra)
        print(json.dumps(out))
        sys.stdout.flush()
