#!/usr/bin/env bash
# Interop: real sipp (Debian sip-tester) against a real `hotline serve` on loopback.
# sipp walks the embedded demo menu with its bundled RFC 2833 pcaps (PCMU + telephone-event
# offer); the call's path is then checked through the admin API.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${HOTLINE_BIN:-bin/hotline}
out=$(mktemp -d)
sip_port=${SIP_PORT:-25060}
admin=${ADMIN_ADDR:-127.0.0.1:28080}
export HOTLINE_SIP_LISTEN=127.0.0.1:$sip_port HOTLINE_ADMIN_LISTEN=$admin
export HOTLINE_MEDIA_RTP_PORT_MIN=30000 HOTLINE_MEDIA_RTP_PORT_MAX=31000

"$bin" serve >"$out/hotline.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$out"; }
trap cleanup EXIT
for _ in $(seq 50); do
	curl -fs "http://$admin/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fs "http://$admin/readyz" >/dev/null || { echo "hotline did not become ready"; cat "$out/hotline.log"; exit 1; }

fail() { echo "interop FAILED: $*"; echo "--- hotline log"; cat "$out/hotline.log"; exit 1; }

echo "== sipp: demo walk with RFC 2833 pcaps"
sipp 127.0.0.1:"$sip_port" -sf testdata/sipp/menu_walk.xml -m 1 -l 1 \
	-i 127.0.0.1 -p 25070 -mi 127.0.0.1 -mp 26000 -timeout 60s -timeout_error \
	-nostdin -trace_err -error_file "$out/sipp_err.log" >"$out/sipp.out" 2>&1 ||
	{ cat "$out/sipp.out" "$out/sipp_err.log" 2>/dev/null; fail "sipp call failed"; }

curl -fs "http://$admin/api/v1/calls" >"$out/calls.json"
python3 - "$out/calls.json" <<'PY' || fail "call path"
import json, sys
calls = json.load(open(sys.argv[1]))["finished"]
walk = [c for c in calls if c["caller"]["user"] == "sipp"]
assert len(walk) == 1, f"want one finished sipp call, got {len(walk)}"
c = walk[0]
nodes = [n["node"] for n in c["nodes"]]
keys = [(k["key"], k["mode"]) for k in c["keys"]]
print("nodes:", nodes)
print("keys:", keys)
print("outcome:", c["outcome"])
assert nodes == ["main", "account", "main", "orders"], nodes
assert keys == [(k, "rfc4733") for k in ["1", "2", "*", "3", "0"]], keys
assert c["outcome"] == "caller_hangup", c["outcome"]
played = [p["prompt"] for p in c["prompts"]]
assert played[:2] == ["main", "account"] and "invalid" in played, played
PY
echo "interop: ok"
