# Forks without end for two seconds, then says it survived. Every fork carries
# the runner's tag on its command line, so the runner can check that the call
# ends, the host keeps serving, and not one fork is left on the host.
tag=$(sed -n 's/.*"tag": *"\([^"]*\)".*/\1/p')
sh -c 'b() { b | b & }; b' "esc-$tag" 2>/dev/null &
sleep 2
echo '{"escaped": false, "detail": "forked until refused"}'
