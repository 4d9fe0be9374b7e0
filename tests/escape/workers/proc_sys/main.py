# Writes the kernel's global knobs through /proc. Each write puts back the
# value already there (sysrq: "h", which only prints help), so a kernel that
# took it changes nothing; the error is what tells.
from esc import Report

r = Report()
for path in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe",
             "/proc/sys/kernel/hostname", "/proc/sys/vm/overcommit_memory"):
    def rewrite(path=path):
        with open(path) as f:
            value = f.read()
        with open(path, "w") as f:
            f.write(value)
    r.oserror("write " + path, rewrite)


def sysrq():
    with open("/proc/sysrq-trigger", "w") as f:
        f.write("h")


r.oserror("write /proc/sysrq-trigger", sysrq)
r.done()
