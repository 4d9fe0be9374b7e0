# Becomes root: setuid(0) and friends, and any setuid-root program the
# sandbox can run from a mount that honours the setuid bit.
import os
import stat
from esc import Report

r = Report()
for what, fn in (("setuid(0)", lambda: os.setuid(0)), ("setresuid(0)", lambda: os.setresuid(0, 0, 0)),
                 ("setgid(0)", lambda: os.setgid(0)), ("setgroups([0])", lambda: os.setgroups([0]))):
    r.oserror(what, fn)
found = []
for top in ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/libexec", "/job"):
    for d, _, files in os.walk(top):
        for f in files:
            p = os.path.join(d, f)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_mode & stat.S_ISUID and st.st_uid == 0:
                # ST_NOSUID: the kernel ignores the bit on this mount.
                if not os.statvfs(p).f_flag & os.ST_NOSUID:
                    found.append(p)
r.note("setuid-root programs that would run as root", bool(found), ",".join(found) or "none")
r.note("uid", os.geteuid() == 0, "euid %d" % os.geteuid())
r.done()
