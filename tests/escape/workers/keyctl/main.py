# The kernel keyring is not namespaced: keys added here would be the host
# kernel's (in the jail).
from esc import sys_call, Report

KEY_SPEC_SESSION_KEYRING, KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_GET_KEYRING_ID = -3, 1, 0
r = Report()
r.syscall("add_key", sys_call("add_key", b"user", b"escape", b"secret", 6, KEY_SPEC_SESSION_KEYRING))
r.syscall("keyctl join session keyring", sys_call("keyctl", KEYCTL_JOIN_SESSION_KEYRING, b"escape"))
r.syscall("keyctl get keyring id", sys_call("keyctl", KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0))
r.done()
