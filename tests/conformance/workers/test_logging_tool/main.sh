#!/bin/sh
# Conformance fixture of the 2026-07-28 suite (server-stateless): its log
# lines reach a client only when the request's _meta names a log level.
cat >/dev/null
printf '%s\n' '{"log":"info","data":"Tool execution started"}' >&3
printf '%s\n' '{"log":"info","data":"Tool processing data"}' >&3
printf '%s\n' '{"log":"info","data":"Tool execution completed"}' >&3
printf '%s\n' '{"content":[{"type":"text","text":"Logging test completed"}]}'
