# What a kernel exploit starts from: the kernel's log (syslog(2), /dev/kmsg)
# and its symbol addresses (/proc/kallsyms), which defeat KASLR. In the jail
# they would be the host kernel's.
import ctypes
from esc import libc_call, Report

SYSLOG_ACTION_READ_ALL = 3
r = Report()
buf = ctypes.create_string_buffer(4096)
res = libc_call("klogctl", SYSLOG_ACTION_READ_ALL, buf, 4096)
r.note("syslog(READ_ALL)", res[0] > 0, res[1] or "%d bytes" % res[0])
r.oserror("read /dev/kmsg", lambda: open("/dev/kmsg", "rb").close())
try:
    with open("/proc/kallsyms") as f:
        addrs = {line.split()[0] for line, _ in zip(f, range(1000))}
    r.note("/proc/kallsyms addresses", addrs - {"0" * 16}, "%d distinct" % len(addrs - {"0" * 16}))
except OSError as e:
    r.note("/proc/kallsyms", False, str(e))
r.done()
