# Kernel interfaces behind most recent kernel exploits: perf_event_open, bpf,
# io_uring (which bypasses seccomp), userfaultfd, and kexec_load. Arguments
# are zeroed or empty, so a call that got past its permission check would
# still do nothing.
import ctypes
from esc import sys_call, Report

r = Report()
attr = ctypes.create_string_buffer(128)
attr[4:8] = (128).to_bytes(4, "little")  # perf_event_attr.size
r.syscall("perf_event_open", sys_call("perf_event_open", attr, 0, -1, -1, 0))
r.syscall("bpf BPF_PROG_LOAD", sys_call("bpf", 5, ctypes.create_string_buffer(128), 128))
r.syscall("bpf BPF_MAP_CREATE", sys_call("bpf", 0, ctypes.create_string_buffer(128), 128))
r.syscall("io_uring_setup", sys_call("io_uring_setup", 1, ctypes.create_string_buffer(120)))
r.syscall("userfaultfd", sys_call("userfaultfd", 0))
r.syscall("kexec_load", sys_call("kexec_load", 0, 0, None, 0))
r.done()
