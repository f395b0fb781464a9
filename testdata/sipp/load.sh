#!/usr/bin/env bash
# Load run for BENCHMARKS.md: CALLS concurrent sipp calls (default 200) sit in the demo menu
# with audio both ways (sipp streams caller audio, Hotline plays the prompts), one RFC 2833
# key each, ~20 s per call. Bounded: CALLS calls in all, loopback only.
# HOLD=1: the key is 4, which joins a queue with no agent on duty: callers sit on hold with
# music on hold and announcements instead (a temporary config: the demo plus that queue).
# Prints the server's idle RSS, RSS at the plateau, CPU ms per call-second and KiB per call.
set -euo pipefail
cd "$(dirname "$0")/../.."
calls=${CALLS:-200}
rate=${RATE:-50}
bin=${HOTLINE_BIN:-bin/hotline}
unset HOTLINE_BIN # every HOTLINE_ variable the server sees must name a config key
out=$(mktemp -d)
sip_port=25160 admin=127.0.0.1:28180
export HOTLINE_SIP_LISTEN=127.0.0.1:$sip_port HOTLINE_ADMIN_LISTEN=$admin
export HOTLINE_MEDIA_RTP_PORT_MIN=32000 HOTLINE_MEDIA_RTP_PORT_MAX=34000 HOTLINE_ADMIN_CALL_HISTORY=$((calls + 10))
scenario=testdata/sipp/menu_sit.xml
args=()
if [ "${HOLD:-}" = 1 ]; then
	scenario=testdata/sipp/hold_sit.xml
	defaults=$(cd cmd/hotline/defaults && pwd)
	sed "s|file: prompts/|file: $defaults/prompts/|; s|^admin:|queues:\n  support: {announce_interval: 30s, max_wait: 10m}\nadmin:|" \
		cmd/hotline/defaults/hotline.yaml |
		sed 's|^\(\s*\)"3": {action: goto, target: orders}|&\n\1"4": {action: enqueue, queue: support}|' >"$out/hold.yaml"
	export HOTLINE_DATA_DIR=$out/data
	args=(--config "$out/hold.yaml")
fi
"$bin" serve "${args[@]}" >"$out/hotline.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$out"' EXIT
for _ in $(seq 50); do curl -fs "http://$admin/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
sleep 1
rss() { awk '/VmRSS/ {print $2}' /proc/$pid/status; }
ticks() { awk '{print $14 + $15}' /proc/$pid/stat; }
idle_rss=$(rss)
t0=$(ticks)
sipp 127.0.0.1:$sip_port -sf "$scenario" -m "$calls" -l "$calls" -r "$rate" \
	-i 127.0.0.1 -p 25171 -mi 127.0.0.1 -mp 36000 -nostdin -timeout 120s \
	-trace_stat -stf "$out/stat.csv" -fd 5 >"$out/sipp.out" 2>&1 &
sp=$!
# Sample at the plateau: all calls up, before the first ends.
sleep $(( calls / rate + 8 ))
plateau_rss=$(rss)
active=$(curl -fs "http://$admin/metrics" | awk '/^hotline_calls_active/ {print $2}')
wait $sp || { echo "sipp reported failed calls"; tail -30 "$out/sipp.out"; }
t1=$(ticks)
hz=$(getconf CLK_TCK)
curl -fs "http://$admin/api/v1/calls" >"$out/calls.json"
python3 - "$out/calls.json" "$idle_rss" "$plateau_rss" "$active" "$t0" "$t1" "$hz" "$calls" <<'PY'
import json, sys
from datetime import datetime
calls = [c for c in json.load(open(sys.argv[1]))["finished"] if c["caller"]["user"] == "load"]
idle, plateau, active = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
t0, t1, hz, want = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
import re
def ts(s):  # Go's RFC 3339 with nanoseconds -> microseconds for Python
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", s).replace("Z", "+00:00"))
secs = sum((ts(c["end"]) - ts(c["start"])).total_seconds() for c in calls)
keyed = sum(1 for c in calls if len(c["keys"]) == 1)
held = sum(1 for c in calls if c.get("queue"))
cpu_ms = (t1 - t0) * 1000 / hz
print(f"calls finished: {len(calls)}/{want}, with exactly one key: {keyed}, on hold in a queue: {held}")
print(f"outcomes: { {o: sum(1 for c in calls if c['outcome'] == o) for o in set(c['outcome'] for c in calls)} }")
print(f"active at plateau: {active:.0f}")
print(f"idle RSS: {idle} KiB; plateau RSS: {plateau} KiB; per call: {(plateau - idle) / max(active, 1):.1f} KiB")
print(f"server CPU: {cpu_ms:.0f} ms over {secs:.0f} call-seconds = {cpu_ms / secs:.3f} ms per call-second")
PY
