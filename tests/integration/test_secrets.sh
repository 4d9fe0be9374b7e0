#!/usr/bin/env bash
# The secret store through the real daemon: `toolgate secret set` reads the
# value from a pipe, a file or a terminal (not echoed) and PUT /v1/secrets
# takes the raw body; the bytes stored are exactly those sent (decrypted here
# on the side with Python's AES-GCM, which also checks the on-disk format);
# lists show names and times only; secrets:write is required; tenants are
# kept apart; deletes; each change leaves a secret.write record with the name
# and no value; no value appears in the audit log, the store's files or the
# gateway's output; and a change while the audit log is moved away answers
# 503 and changes nothing.
#
#   tests/integration/test_secrets.sh PATH/TO/toolgate
set -uo pipefail

toolgate=${1:?usage: $0 PATH/TO/toolgate}
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

cat >"$tmp/config.json" <<JSON
{ "listen": "127.0.0.1:0", "data_dir": "$tmp/data", "pool": { "warm": 0 },
  "audit": { "deadline_ms": 500 } }
JSON
start_daemon gateway --config "$tmp/config.json"
mint() { # mint TENANT SUB SCOPE
  "$toolgate" token --data-dir "$tmp/data" --tenant "$1" --sub "$2" --scope "$3" --audience "$url"
}
alice=$(mint acme alice "secrets:write")
bob=$(mint acme bob "tools:list tools:call workers:deploy audit:read")
root=$(mint acme root admin)
carol=$(mint globex carol "secrets:write")
store=$tmp/data/secrets.db
log=$tmp/data/audit.db

check "the key file is made 0600" [ "$(stat -c %a "$tmp/data/secrets.key")" = 600 ]
check "the key file holds 32 bytes" [ "$(stat -c %s "$tmp/data/secrets.key")" = 32 ]

# Every value sent, to look for where none may be.
tag=$$-$RANDOM
v_pipe="sk-pipe-canary-$tag"
v_nl="sk-newline-canary-$tag"
v_strip="sk-strip-canary-$tag"
v_tty="sk-typed-canary-$tag"
v_put="sk-put-canary-$tag"
v_put2="sk-put2-canary-$tag"
v_json="sk-json-canary-$tag"
v_forbidden="sk-forbidden-canary-$tag"
v_globex="sk-globex-canary-$tag"
v_away="sk-away-canary-$tag"
v_back="sk-back-canary-$tag"
values=("$v_pipe" "$v_nl" "$v_strip" "$v_tty" "$v_put" "$v_put2" "$v_json" "$v_forbidden"
  "$v_globex" "$v_away" "$v_back" "BINARY-CANARY-$tag")

# reveal TENANT NAME: the stored value, decrypted on the side with the key
# file (AES-256-GCM, AAD tenant NUL name), into $tmp/revealed.
cat >"$tmp/reveal.py" <<'PY'
import sqlite3, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
db, key, tenant, name, out = sys.argv[1:6]
row = sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute(
    "SELECT nonce, ciphertext FROM secrets WHERE tenant = ? AND name = ?", (tenant, name)).fetchone()
if row is None:
    sys.exit(3)
aad = tenant.encode() + b"\0" + name.encode()
open(out, "wb").write(AESGCM(open(key, "rb").read()).decrypt(row[0], row[1], aad))
PY
can_reveal=true
python3 -c "import cryptography.hazmat.primitives.ciphers.aead" 2>/dev/null || {
  can_reveal=false
  echo "note: python3 cryptography is missing: the stored bytes are not compared" >&2
}
reveal() { python3 "$tmp/reveal.py" "$store" "$tmp/data/secrets.key" "$1" "$2" "$tmp/revealed"; }
# stored TENANT NAME FILE: the stored value is FILE's bytes exactly.
stored() {
  $can_reveal || return 0
  reveal "$1" "$2" && cmp -s "$tmp/revealed" "$3"
}
stored_text() { # stored_text TENANT NAME TEXT (no newline added)
  printf '%s' "$3" >"$tmp/expected"
  stored "$1" "$2" "$tmp/expected"
}
secret() { "$toolgate" secret "$@" --url "$base"; }
# req METHOD PATH TOKEN [CURL ARGS...]: the admin API, body in $tmp/body.
req() {
  local method=$1 path=$2 token=$3
  shift 3
  status=$(curl -s -o "$tmp/body" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $token" \
    "$@" "$base$path")
}

# --- the CLI: the value on stdin, byte for byte ---
printf '%s' "$v_pipe" | secret set CRM_TOKEN --token "$alice" >"$tmp/cli.out" 2>"$tmp/cli.err"
check "set from a pipe" [ $? = 0 ]
check "it answers the name and time" python3 -c "
import json; d = json.load(open('$tmp/cli.out')); assert set(d) == {'name', 'updated_at'} and d['name'] == 'CRM_TOKEN'"
check "stored exactly" stored_text acme CRM_TOKEN "$v_pipe"
printf '%s\n' "$v_nl" | secret set WITH_NEWLINE --token "$alice" >/dev/null
check "a pipe keeps its trailing newline" stored_text acme WITH_NEWLINE "$v_nl
"
printf '%s\n\n' "$v_strip" | secret set STRIPPED --strip-newline --token "$alice" >/dev/null
check "--strip-newline drops one newline, only one" stored_text acme STRIPPED "$v_strip
"
{
  printf 'BINARY-CANARY-%s\0' "$tag"
  head -c 3000 /dev/urandom
  printf '\0\0\n'
} >"$tmp/binary"
secret set BINARY --token "$alice" <"$tmp/binary" >/dev/null
check "a binary file, NULs and all" stored acme BINARY "$tmp/binary"
TOOLGATE_TOKEN=$alice TOOLGATE_URL=$base "$toolgate" secret list >"$tmp/list.out"
check "list via \$TOOLGATE_URL and \$TOOLGATE_TOKEN" grep -q '^BINARY .*Z$' "$tmp/list.out"
check "the value never on the command line" bash -c "! '$toolgate' secret set X '$v_forbidden' --url '$base' --token '$alice' </dev/null 2>/dev/null"
check "an empty value is refused" bash -c "! printf '' | '$toolgate' secret set EMPTY --url '$base' --token '$alice' 2>/dev/null"
check "a bad name is refused" bash -c "! printf x | '$toolgate' secret set 9-lives --url '$base' --token '$alice' 2>/dev/null"

# At a terminal: not echoed, one newline dropped.
cat >"$tmp/typed.py" <<'PY'
import os, pty, select, subprocess, sys, time
value = sys.argv[1].encode()
master, slave = pty.openpty()
p = subprocess.Popen(sys.argv[2:], stdin=slave, stderr=slave, stdout=subprocess.PIPE)
os.close(slave)
seen = b""
deadline = time.time() + 10
while b"Ctrl-D" not in seen and time.time() < deadline:
    if select.select([master], [], [], 0.2)[0]:
        seen += os.read(master, 4096)
time.sleep(0.3)
os.write(master, value + b"\n")
time.sleep(0.2)
os.write(master, b"\x04")
out, _ = p.communicate(timeout=10)
while select.select([master], [], [], 0.3)[0]:
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
sys.exit(0 if p.returncode == 0 and value not in seen else 1)
PY
check "typed at a terminal: set, not echoed" \
  python3 "$tmp/typed.py" "$v_tty" "$toolgate" secret set TYPED --url "$base" --token "$alice"
check "typed: the Enter's newline is dropped" stored_text acme TYPED "$v_tty"

# --- PUT /v1/secrets/{name}: the raw body ---
printf '%s' "$v_put" >"$tmp/put"
req PUT /v1/secrets/API_KEY "$alice" --data-binary @"$tmp/put"
check "PUT creates: 201" [ "$status" = 201 ]
check "answers name and updated_at only" [ "$(jq_body "sorted(d) == ['name', 'updated_at'] and d['name'] == 'API_KEY' and d['updated_at'].endswith('Z')")" = True ]
printf '%s' "$v_put2" >"$tmp/put"
req PUT /v1/secrets/API_KEY "$alice" --data-binary @"$tmp/put" -H 'Content-Type: text/plain'
check "PUT replaces: 200" [ "$status" = 200 ]
check "the new value is stored" stored_text acme API_KEY "$v_put2"
req PUT /v1/secrets/JSON_KEY "$alice" -H "$json" --data-binary "{\"value\": \"$v_json\"}"
check "a JSON body is a value like any other" [ "$status" = 201 ]
check "stored as sent" stored_text acme JSON_KEY "{\"value\": \"$v_json\"}"
head -c 65536 /dev/zero | tr '\0' x >"$tmp/big"
req PUT /v1/secrets/BIG "$alice" --data-binary @"$tmp/big"
check "64 KiB is accepted" [ "$status" = 201 ]
printf x >>"$tmp/big"
req PUT /v1/secrets/BIG "$alice" --data-binary @"$tmp/big"
check "a byte more is 413" [ "$status" = 413 ]
req PUT /v1/secrets/EMPTY "$alice" --data-binary ''
check "an empty body is 400" [ "$status" = 400 ]
req PUT /v1/secrets/bad-name "$alice" --data-binary x
check "a bad name is 400" [ "$status" = 400 ]
check "and is not echoed" bash -c "! grep -q bad-name '$tmp/body'"
req PUT /v1/secrets/A/B "$alice" --data-binary x
check "a deeper path is 404" [ "$status" = 404 ]
req GET /v1/secrets/API_KEY "$alice"
check "a value is never read back: 405" [ "$status" = 405 ]

# --- list ---
req GET /v1/secrets "$alice"
check "list: 200" [ "$status" = 200 ]
check "names sorted, with times, nothing else" [ "$(jq_body "[s['name'] for s in d['secrets']] == sorted(['API_KEY', 'BIG', 'BINARY', 'CRM_TOKEN', 'JSON_KEY', 'STRIPPED', 'TYPED', 'WITH_NEWLINE']) and all(sorted(s) == ['name', 'updated_at'] for s in d['secrets'])")" = True ]
check "no value in the list" bash -c "! grep -aqF -e '$v_put2' -e '$v_pipe' -e '$v_json' '$tmp/body'"
secret list --token "$alice" --json >"$tmp/body"
check "the CLI's list --json" [ "$(jq_body "len(d['secrets'])")" = 8 ]

# --- scope ---
req GET /v1/secrets "$bob"
check "listing needs secrets:write: 403" [ "$status" = 403 ]
check "with the insufficient_scope error" [ "$(jq_body "d['error']['code']")" = FORBIDDEN ]
printf '%s' "$v_forbidden" >"$tmp/put"
req PUT /v1/secrets/API_KEY "$bob" --data-binary @"$tmp/put"
check "setting needs secrets:write: 403" [ "$status" = 403 ]
check "and changed nothing" stored_text acme API_KEY "$v_put2"
req DELETE /v1/secrets/API_KEY "$bob"
check "deleting needs secrets:write: 403" [ "$status" = 403 ]
status=$(curl -s -o /dev/null -w '%{http_code}' "$base/v1/secrets")
check "no token: 401" [ "$status" = 401 ]
req GET /v1/secrets "$root"
check "admin holds every scope" [ "$status" = 200 ]
printf '%s' "$v_forbidden" | secret set API_KEY --token "$bob" 2>"$tmp/cli.err"
check "the CLI reports the refusal" [ $? = 1 ]
check "naming the scope" grep -q "secrets:write" "$tmp/cli.err"

# --- tenants ---
req GET /v1/secrets "$carol"
check "another tenant sees none of them" [ "$(jq_body "d['secrets']")" = "[]" ]
printf '%s' "$v_globex" | secret set CRM_TOKEN --token "$carol" >/dev/null
check "its own secret of the same name" stored_text globex CRM_TOKEN "$v_globex"
check "leaves the first tenant's alone" stored_text acme CRM_TOKEN "$v_pipe"
req DELETE /v1/secrets/API_KEY "$carol"
check "another tenant's name is unknown: 404" [ "$status" = 404 ]
check "still there" stored_text acme API_KEY "$v_put2"

# --- delete ---
secret delete BIG --token "$alice" >"$tmp/cli.out"
check "the CLI deletes" [ $? = 0 ]
req DELETE /v1/secrets/STRIPPED "$alice"
check "DELETE: 204" [ "$status" = 204 ]
req DELETE /v1/secrets/STRIPPED "$alice"
check "again: 404" [ "$status" = 404 ]
check "the CLI's delete of nothing fails" bash -c "! '$toolgate' secret delete STRIPPED --url '$base' --token '$alice' 2>/dev/null"
req GET /v1/secrets "$alice"
check "gone from the list" [ "$(jq_body "[s['name'] for s in d['secrets'] if s['name'] in ('BIG', 'STRIPPED')]")" = "[]" ]

# --- the audit log: names, never values ---
req GET "/v1/audit?kind=secret.write&limit=100" "$bob"
check "secret.write records" [ "$status" = 200 ]
check "one per change, name only" [ "$(jq_body "sorted((r['status'], r['body']['name']) for r in d['records'])")" = \
  "[('deleted', 'BIG'), ('deleted', 'STRIPPED'), ('set', 'API_KEY'), ('set', 'API_KEY'), ('set', 'BIG'), ('set', 'BINARY'), ('set', 'CRM_TOKEN'), ('set', 'JSON_KEY'), ('set', 'STRIPPED'), ('set', 'TYPED'), ('set', 'WITH_NEWLINE')]" ]
check "bodies hold the name alone" [ "$(jq_body "all(list(r['body']) == ['name'] and r['principal'] == 'acme/alice' for r in d['records'])")" = True ]

# --- the audit log moved away: no change, 503 ---
mv "$log" "$log.away"
printf '%s' "$v_away" >"$tmp/put"
req PUT /v1/secrets/API_KEY "$alice" --data-binary @"$tmp/put"
check "PUT while the log is away: 503" [ "$status" = 503 ]
check "AUDIT_UNAVAILABLE" [ "$(jq_body "d['error']['code']")" = AUDIT_UNAVAILABLE ]
check "the secret is unchanged" stored_text acme API_KEY "$v_put2"
req PUT /v1/secrets/NEW_WHILE_AWAY "$alice" --data-binary @"$tmp/put"
check "a new one: 503" [ "$status" = 503 ]
check "and not made" bash -c "! python3 '$tmp/reveal.py' '$store' '$tmp/data/secrets.key' acme NEW_WHILE_AWAY /dev/null 2>/dev/null"
req DELETE /v1/secrets/CRM_TOKEN "$alice"
check "DELETE while the log is away: 503" [ "$status" = 503 ]
check "still there" stored_text acme CRM_TOKEN "$v_pipe"
mv "$log.away" "$log"
# Changes wait for the log to take records; a refused request's auth.denied
# record is what writes to it next here.
ok=
for _ in $(seq 50); do
  req GET /v1/secrets "$bob"
  printf '%s' "$v_back" >"$tmp/put"
  req PUT /v1/secrets/API_KEY "$alice" --data-binary @"$tmp/put"
  [ "$status" = 200 ] && ok=1 && break
  sleep 0.1
done
check "changes work again once the log is back" [ -n "$ok" ]
check "the value changes" stored_text acme API_KEY "$v_back"

# --- no value anywhere it must not be ---
absent() { # absent FILE...: none of the values in any of the files
  local f v
  for f in "$@"; do
    [ -f "$f" ] || continue
    for v in "${values[@]}"; do
      grep -aqF -- "$v" "$f" && echo "  $v found in $f" >&2 && return 1
    done
  done
  return 0
}
check "no value in the audit log" absent "$log" "$log-wal"
check "no value in the store's files" absent "$store" "$store-wal"
kill "$server_pid" && wait "$server_pid"
server_pid=
check "nor after the store is checkpointed and closed" absent "$store" "$store-wal" "$log" "$log-wal"
check "no value in the gateway's output" absent "$tmp/gateway.out" "$tmp/gateway.err"
check "the audit log verifies" "$toolgate" audit verify --file "$log"

# --- the key file ---
chmod 644 "$tmp/data/secrets.key"
"$toolgate" serve --listen 127.0.0.1:0 --data-dir "$tmp/data" >/dev/null 2>"$tmp/open.err" &
pid=$!
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
wait "$pid"
check "a key file others can read stops the gateway" grep -q "secrets key .* open to other users" "$tmp/open.err"
chmod 600 "$tmp/data/secrets.key"
head -c 32 /dev/urandom >"$tmp/other.key"
chmod 600 "$tmp/other.key"
cat >"$tmp/other.json" <<JSON
{ "listen": "127.0.0.1:0", "data_dir": "$tmp/data", "secrets": { "master_key_file": "$tmp/other.key" } }
JSON
"$toolgate" serve --config "$tmp/other.json" >/dev/null 2>"$tmp/open.err" &
pid=$!
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
wait "$pid"
check "another key stops the gateway" grep -q "is not the key" "$tmp/open.err"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
