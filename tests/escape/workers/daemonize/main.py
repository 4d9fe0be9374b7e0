# Leaves a daemon behind the way daemons start: fork, setsid, fork again,
# descriptors closed; the grandchild sleeps and then tries to leave a marker
# on the host. The worker answers at once. The daemon's command line carries
# the runner's tag; the runner checks that no such process outlives the call.
import os
from esc import args, Report

r = Report()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        fd = os.open("/dev/null", os.O_RDWR)
        for i in (0, 1, 2):
            os.dup2(fd, i)
        os.execv("/bin/sh", ["sh", "-c", 'trap "" TERM HUP; sleep 4; echo survived > "$1/marker"',
                             "esc-" + args["tag"], args["marker_dir"]])
    os._exit(0)
os.wait()
r.note("daemon started", False, "the host decides whether it survived")
r.done()
