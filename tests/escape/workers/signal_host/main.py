# Signals every process it may (kill -1), then the host's gateway and the
# runner's sentinel by their host pids. The runner checks that both live on.
import os
import signal
from esc import args, Report

r = Report()
for pid in (args["gateway_pid"], args["sentinel_pid"]):
    r.oserror("SIGSTOP host pid %d" % pid, lambda pid=pid: os.kill(pid, signal.SIGSTOP))
# Whatever kill -1 reaches, this worker's own answer comes first.
r.done()
try:
    os.kill(-1, signal.SIGKILL)
except ProcessLookupError:
    pass  # nothing it may signal
