#!/usr/bin/env bash
# Interop, hold queue: real baresip 1.0.0 (Debian baresip-core), headless, registers with a
# real `hotline serve` as queue agent agent1 (digest auth) and auto-answers; real sipp
# (Debian sip-tester) calls in, presses 4 by RFC 2833 (enqueue into "support") and streams
# caller audio. Checked afterwards: the finished call's record names agent1 and the outcome
# `answered`, the agent is ready again, and baresip received the caller's own audio (its
# sndfile dump holds frames of testdata/sipp/caller.ulaw). Loopback only.
#
# The server's config is the embedded default (cmd/hotline/defaults/hotline.yaml) with
# absolute prompt paths, plus the registrar account, the queue, the agent and menu key 4.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${HOTLINE_BIN:-bin/hotline}
unset HOTLINE_BIN # every HOTLINE_ variable the server sees must name a config key
here=testdata/baresip
sip_port=${SIP_PORT:-25360}
admin=${ADMIN_ADDR:-127.0.0.1:28380}
rtp_min=${RTP_MIN:-31800} rtp_max=${RTP_MAX:-31998}
bs_sip_port=${BARESIP_SIP_PORT:-25370}
bs_ctrl=${BARESIP_CTRL_ADDR:-127.0.0.1:25375}  # not SIP port + 1: baresip opens TLS there
bs_rtp_min=32100 bs_rtp_max=32198
sipp_port=${SIPP_PORT:-25380} sipp_media=${SIPP_MEDIA_PORT:-26200}

command -v baresip >/dev/null || { echo "baresip not installed (Debian: baresip-core)"; exit 1; }
command -v sipp >/dev/null || { echo "sipp not installed (Debian: sip-tester)"; exit 1; }
out=$(mktemp -d)
hpid= bpid=
# stop PID: SIGTERM, then SIGKILL after 5 s.
stop() {
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	# baresip first: it unregisters on SIGTERM, and with Hotline gone it would retransmit
	# the REGISTER for 32 s (RFC 3261 Timer F).
	stop "$bpid"
	stop "$hpid"
	if [ -n "${KEEP:-}" ]; then echo "kept $out"; else rm -rf "$out"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "baresip agent interop FAILED: $*"
	echo "--- hotline log"; cat "$out/hotline.log" 2>/dev/null || true
	echo "--- baresip log"; cat "$out/baresip.log" 2>/dev/null || true
	echo "--- sipp"; cat "$out/sipp.out" "$out/sipp_err.log" 2>/dev/null || true
	echo "--- calls"; cat "$out/calls.json" 2>/dev/null || true
	exit 1
}

# ready N: wait until queue "support" has N ready agents (GET /api/v1/queues).
ready() {
	local n=$1
	for _ in $(seq 150); do
		curl -fs -m 2 "http://$admin/api/v1/queues" >"$out/queues.json" 2>/dev/null &&
			python3 -c '
import json, sys
qs = {q["name"]: q for q in json.load(open(sys.argv[1]))["queues"]}
sys.exit(qs.get("support", {}).get("ready") != int(sys.argv[2]))' "$out/queues.json" "$n" &&
			return 0
		sleep 0.1
	done
	return 1
}

# The server's config: the embedded default plus the registrar account, queue "support",
# agent agent1 and main-menu key 4, each replacing the default's own if it has one (the
# default is edited line by line, as it is written: block style, two-space indents).
mkdir "$out/data"
python3 - cmd/hotline/defaults/hotline.yaml "$out/hotline.yaml" "$PWD/cmd/hotline/defaults/prompts" \
	"$sip_port" "$admin" "$rtp_min" "$rtp_max" "$out/data" <<'PY'
import re, sys
src, dst, prompts, sip_port, admin, rtp_min, rtp_max, data = sys.argv[1:]
lines = open(src).read().splitlines()

def indent(l):
    return len(l) - len(l.lstrip(" ")) if l.strip() and not l.lstrip().startswith("#") else None

def find(pattern, start=0, end=None):
    """Index of the first line matching pattern in [start, end), or None."""
    for i in range(start, len(lines) if end is None else end):
        if re.match(pattern, lines[i]):
            return i
    return None

def block_end(i):
    """End (exclusive) of the block whose key is at line i: up to the next line indented
    as much or less (comments and blank lines in between stay with what follows)."""
    n = indent(lines[i])
    j, last = i + 1, i + 1
    while j < len(lines):
        k = indent(lines[j])
        if k is not None:
            if k <= n:
                break
            last = j + 1
        j += 1
    return last

def section(key):
    i = find(rf"^{key}:")
    return (i, block_end(i)) if i is not None else (None, None)

def put(key_pattern, new, start, end, at):
    """Replace the block at key_pattern within [start, end) with new lines, or insert them at at."""
    i = find(key_pattern, start, end)
    if i is None:
        lines[at:at] = new
    else:
        lines[i:block_end(i)] = new

def must(i, what):
    assert i is not None, f"default config: no {what}"
    return i

# Addresses, ports and prompt files.
for i, l in enumerate(lines):
    lines[i] = l.replace("{file: prompts/", "{file: " + prompts + "/")
s, e = section("sip")
lines[must(find(r"^  listen:", s, e), "sip.listen")] = f"  listen: 127.0.0.1:{sip_port}"
s, e = section("sip")
put(r"^  registrar:", ["  registrar:", "    accounts: [{user: agent1, password: agentpw}]"], s, e, s + 1)
s, e = section("admin")
lines[must(find(r"^  listen:", s, e), "admin.listen")] = f"  listen: {admin}"
s, e = section("media")
lines[must(find(r"^  rtp_port_min:", s, e), "rtp_port_min")] = f"  rtp_port_min: {rtp_min}"
lines[must(find(r"^  rtp_port_max:", s, e), "rtp_port_max")] = f"  rtp_port_max: {rtp_max}"

# Main menu key 4: enqueue into support.
s, e = section("menus")
n = must(find(r"^  nodes:", s, e), "menus.nodes")
m = must(find(r"^    main:", n, block_end(n)), "menus.nodes.main")
o = must(find(r"^      options:", m, block_end(m)), "main's options")
put(r'^        "4":', ['        "4": {action: enqueue, queue: support}'], o, block_end(o), o + 1)

# Queue support and agent agent1 (other queues and agents of the default stay).
s, e = section("queues")
if s is None:
    lines += ["queues:"]
    s, e = section("queues")
put(r"^  support:", ["  support: {strategy: longest-idle, ring_timeout: 15s}"], s, e, s + 1)
s, e = section("agents")
if s is None:
    lines += ["agents:"]
    s, e = section("agents")
lines[s:e] = [l for l in lines[s:e] if "id: agent1," not in l] + ["  - {id: agent1, user: agent1, queues: [support]}"]

s, _ = section("data_dir")
if s is not None:
    del lines[s]
lines += [f"data_dir: {data}"]
open(dst, "w").write("\n".join(lines) + "\n")
PY
"$bin" validate "$out/hotline.yaml" >"$out/validate.log" 2>&1 || { cat "$out/validate.log"; fail "the queue config does not validate"; }

"$bin" serve --config "$out/hotline.yaml" >"$out/hotline.log" 2>&1 &
hpid=$!
for _ in $(seq 50); do
	curl -fs -m 2 "http://$admin/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fs -m 2 "http://$admin/readyz" >/dev/null 2>&1 || fail "hotline did not become ready on $admin"
ready 0 || fail "queue support not served, or an agent ready before baresip registered"

# The agent's microphone: 60 s of a 440 Hz tone (aufile hangs up when its file ends).
python3 - "$out/agent.wav" <<'PY'
import array, math, sys, wave
a = array.array("h", (int(6000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(8000 * 60)))
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
    w.writeframes(a.tobytes())
PY

mkdir "$out/cfg"
sed -e "s|@SIP_PORT@|$bs_sip_port|; s|@CTRL_ADDR@|$bs_ctrl|; s|@WAV@|$out/agent.wav|" \
	-e "s|@RTP_MIN@|$bs_rtp_min|; s|@RTP_MAX@|$bs_rtp_max|; s|@OUT@|$out|" \
	"$here/config.in" >"$out/cfg/config"
# Registers as agent1 (digest: auth_pass) every 60 s (Hotline's min_expires) and answers
# every call at once (answermode=auto, acted on by the menu module).
echo "<sip:agent1@127.0.0.1:$sip_port>;auth_pass=agentpw;regint=60;answermode=auto;audio_codecs=PCMU,PCMA" \
	>"$out/cfg/accounts"
: >"$out/cfg/contacts"

# -s: SIP trace in the log; -t: hard stop even if everything else hangs.
baresip -s -f "$out/cfg" -t 60 </dev/null >"$out/baresip.log" 2>&1 &
bpid=$!
ready 1 || fail "baresip did not register as agent1 (queue support has no ready agent)"
echo "== baresip registered as agent1; queue support has 1 ready agent"

echo "== sipp: call, key 4 (enqueue support), caller audio, BYE"
sipp 127.0.0.1:"$sip_port" -sf testdata/sipp/queue_call.xml -m 1 -l 1 \
	-i 127.0.0.1 -p "$sipp_port" -mi 127.0.0.1 -mp "$sipp_media" -timeout 60s -timeout_error \
	-nostdin -trace_err -error_file "$out/sipp_err.log" >"$out/sipp.out" 2>&1 ||
	fail "sipp call failed"

# The finished record appears once Hotline has handled the BYE.
for _ in $(seq 50); do
	curl -fs -m 2 "http://$admin/api/v1/calls" >"$out/calls.json" 2>/dev/null &&
		python3 -c 'import json,sys; sys.exit(not any(c["caller"]["user"]=="sippq" for c in json.load(open(sys.argv[1]))["finished"] or []))' "$out/calls.json" &&
		break
	sleep 0.1
done
python3 - "$out/calls.json" <<'PY' || fail "call record"
import json, sys
calls = json.load(open(sys.argv[1]))["finished"] or []
mine = [c for c in calls if c["caller"]["user"] == "sippq"]
assert len(mine) == 1, f"want one finished call from sippq, got {len(mine)}"
c = mine[0]
q = c.get("queue") or {}
keys = [(k["key"], k["mode"]) for k in c.get("keys") or []]
print("call:", c["call_id"], "codec:", c["codec"], "outcome:", c["outcome"])
print("keys:", keys)
print("queue:", json.dumps(q))
assert ("4", "rfc4733") in keys, keys
assert q.get("name") == "support", q
assert q.get("agent") == "agent1", q
assert q.get("joined_at") and q.get("answered_at"), q
assert c["outcome"] == "answered", c["outcome"]
PY
ready 1 || fail "agent1 not ready again after the call"
echo "== agent1 ready again"

# baresip's sndfile dump of what it received: written out when its call closes.
dump=
for _ in $(seq 100); do
	dump=$(ls "$out"/dump-*-dec.wav 2>/dev/null | head -1 || true)
	[ -n "$dump" ] && grep -q "terminated\|closed" "$out/baresip.log" && break
	sleep 0.1
done
[ -n "$dump" ] || fail "baresip recorded no call audio (no sndfile dump)"
python3 - "$dump" testdata/sipp/caller.ulaw <<'PY' || fail "audio at the agent"
import array, math, sys, wave
w = wave.open(sys.argv[1])
got = array.array("h", w.readframes(w.getnframes()))
secs = len(got) / w.getframerate()
rms = math.sqrt(sum(x * x for x in got) / max(1, len(got)))

def ulaw(b):  # ITU-T G.711 mu-law to linear
    b = ~b & 0xFF
    t = (((b & 0x0F) << 3) + 0x84) << ((b >> 4) & 7)
    return 0x84 - t if b & 0x80 else t - 0x84

caller = [ulaw(b) for b in open(sys.argv[2], "rb").read()]
N = 32  # samples per fingerprint (4 ms); only windows with sound identify anything
loud = lambda win: sum(abs(x) for x in win) > N * 200
prints = {tuple(caller[i:i + N]) for i in range(len(caller) - N) if loud(caller[i:i + N])}
hits = sum(1 for i in range(0, len(got) - N, N) if tuple(got[i:i + N]) in prints)
caller_secs = hits * N / 8000
print(f"agent received {secs:.1f} s, rms {rms:.0f}; {caller_secs:.1f} s of it bit-exact caller audio")
assert secs > 3 and rms > 100, "no audio received"
assert caller_secs > 2, "the caller's audio did not reach the agent"
PY
echo "baresip agent interop: ok"
