# Leaves the runner's secret wherever a later call might look: its own /job,
# the shared places of a host (/tmp, /dev/shm, /var/tmp), and a process that
# keeps it on its command line. Writing is allowed; whether a later call
# finds it is what counts, so nothing here is an escape by itself.
import os
from esc import args, Report

r = Report()
secret = args["secret"]
for d in ("/job", "/tmp", "/dev/shm", "/var/tmp", "/"):
    try:
        with open(os.path.join(d, "escape-secret"), "w") as f:
            f.write(secret)
        r.note("write the secret in " + d, False, "written")
    except OSError as e:
        r.note("write the secret in " + d, False, e.strerror)
if os.fork() == 0:
    fd = os.open("/dev/null", os.O_RDWR)
    for i in (0, 1, 2):
        os.dup2(fd, i)
    os.execv("/bin/sh", ["sh", "-c", "sleep 30", "esc-" + args["tag"], secret])
r.done()
