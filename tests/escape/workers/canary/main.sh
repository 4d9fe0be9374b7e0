# Its calls in the audit log mean a sandbox reached the gateway.
cat >/dev/null
echo "{\"canary\": true}"
