#!/bin/sh
# Conformance fixture: see examples/workers/README.md.
cat >/dev/null
printf '%s\n' '{"log":"info","data":"Tool execution started"}' >&3
sleep 0.05
printf '%s\n' '{"log":"info","data":"Tool processing data"}' >&3
sleep 0.05
printf '%s\n' '{"log":"info","data":"Tool execution completed"}' >&3
printf '%s\n' '{"content":[{"type":"text","text":"Logging test completed"}]}'
