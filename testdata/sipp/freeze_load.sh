#!/usr/bin/env bash
# Freeze lane under load, for BENCHMARKS.md: SIT calls (default 1000) sit in the demo menu
# with audio both ways while FREEZES calls (default 100) press 9; reports key press →
# durable record and → confirmation audio start, p50/p99/max, from the call records.
# Bounded: SIT + FREEZES calls, loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
sit=${SIT:-1000} freezes=${FREEZES:-100}
bin=${HOTLINE_BIN:-bin/hotline}
unset HOTLINE_BIN # every HOTLINE_ variable the server sees must name a config key
out=$(mktemp -d)
sip_port=25360 admin=127.0.0.1:28380
mkdir -p "$out/data"
{
	echo "accounts:"
	for i in $(seq 1 "$freezes"); do echo "  - {id: \"9$(printf %07d "$i")\", caller_ids: [\"frz$i\"]}"; done
} >"$out/data/accounts.yaml"
export HOTLINE_SIP_LISTEN=127.0.0.1:$sip_port HOTLINE_ADMIN_LISTEN=$admin HOTLINE_DATA_DIR=$out/data
export HOTLINE_MEDIA_RTP_PORT_MIN=30000 HOTLINE_MEDIA_RTP_PORT_MAX=34999
export HOTLINE_ADMIN_CALL_HISTORY=$((sit + freezes + 10))
# sipp stands for a carrier's trusted trunk here: its caller IDs are believed (no check
# digits), and all of its calls come from one address (no per-source limit).
export HOTLINE_FREEZE_TRUST_FROM=true HOTLINE_FREEZE_RATE_LIMIT_PER_SOURCE=$((freezes + 10))
ulimit -n 65536 2>/dev/null || ulimit -n 8192 || true
"$bin" serve >"$out/hotline.log" 2>&1 &
pid=$!
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$out"' EXIT
for _ in $(seq 50); do curl -fs "http://$admin/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
# The sitting calls: 100/s, each ~20 s plus ramp, so all SIT are up together for a while.
sed 's/<pause milliseconds="19000"\/>/<pause milliseconds="30000"\/>/' testdata/sipp/menu_sit.xml >"$out/sit.xml"
sipp 127.0.0.1:$sip_port -sf "$out/sit.xml" -m "$sit" -l "$sit" -r 100 \
	-i 127.0.0.1 -p 25371 -mi 127.0.0.1 -mp 40000 -nostdin -timeout 180s >"$out/sit.out" 2>&1 &
sit_pid=$!
sleep $(( sit / 100 + 3 ))
active=$(curl -fs "http://$admin/metrics" | awk '/^hotline_calls_active/ {print $2}')
echo "calls up when the freezes start: $active"
sipp 127.0.0.1:$sip_port -sf testdata/sipp/freeze_load.xml -m "$freezes" -l "$freezes" -r 10 \
	-i 127.0.0.1 -p 25372 -mi 127.0.0.1 -mp 46000 -nostdin -timeout 120s >"$out/frz.out" 2>&1 || echo "freeze sipp reported failures"
wait $sit_pid || echo "sit sipp reported failures"
curl -fs "http://$admin/api/v1/calls" >"$out/calls.json"
python3 - "$out/calls.json" "$freezes" <<'PY'
import json, sys
calls = json.load(open(sys.argv[1]))["finished"]
sits = [c for c in calls if c["caller"]["user"] == "load"]
frz = [c for c in calls if c["caller"]["user"].startswith("frz")]
rec = sorted(c["freeze"]["recorded_ms"] for c in frz if c.get("freeze") and c["freeze"].get("reference"))
conf = sorted(c["freeze"]["confirm_ms"] for c in frz if c.get("freeze") and c["freeze"].get("reference"))
def pct(v, p): return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))] if v else float("nan")
print(f"sitting calls finished: {len(sits)}; freeze calls: {len(frz)}, frozen: {len(rec)}/{sys.argv[2]}")
print(f"key press -> durable record: p50 {pct(rec, 50):.1f} ms, p99 {pct(rec, 99):.1f} ms, max {rec[-1] if rec else 0:.1f} ms")
print(f"key press -> confirmation audio start: p50 {pct(conf, 50):.1f} ms, p99 {pct(conf, 99):.1f} ms, max {conf[-1] if conf else 0:.1f} ms")
PY
