# Starts processes that outlast the call: they ignore SIGTERM and SIGHUP, wait
# past the timeout, then try to leave a marker on the host and signal the
# gateway's port. Meanwhile the worker spins into its timeout. Their command
# lines carry the runner's tag, so the runner sees any that survive.
args=$(cat)
tag=$(echo "$args" | sed -n 's/.*"tag": *"\([^"]*\)".*/\1/p')
marker=$(echo "$args" | sed -n 's/.*"marker_dir": *"\([^"]*\)".*/\1/p')
for i in 1 2 3; do
  sh -c 'trap "" TERM HUP INT; sleep 3; echo survived > "$1/marker"; echo > /job/survived' "esc-$tag" "$marker" </dev/null >/dev/null 2>&1 &
done
setsid sh -c 'trap "" TERM HUP; sleep 3; echo survived > "$1/marker"' "esc-$tag" "$marker" </dev/null >/dev/null 2>&1 &
while :; do :; done
