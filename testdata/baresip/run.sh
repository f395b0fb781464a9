#!/usr/bin/env bash
# Interop: real baresip 1.0.0 (Debian baresip-core), headless, against a real `hotline serve`
# on loopback. baresip dials over UDP offering PCMU/PCMA + telephone-event, drive.py steers it
# through ctrl_tcp (dial, sndcode 2, 1, *, hangup), and the call's path is then checked
# through the admin API: main -> payments -> payments_refund -> payments, keys by RFC 4733.
# The baresip config is made from config.in/accounts.in in a temporary dir.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${HOTLINE_BIN:-bin/hotline}
unset HOTLINE_BIN # every HOTLINE_ variable the server sees must name a config key
here=testdata/baresip
sip_port=${SIP_PORT:-25260}
admin=${ADMIN_ADDR:-127.0.0.1:28280}
bs_sip_port=${BARESIP_SIP_PORT:-25270}
bs_ctrl=${BARESIP_CTRL_ADDR:-127.0.0.1:25275}  # not SIP port + 1: baresip opens TLS there
export HOTLINE_SIP_LISTEN=127.0.0.1:$sip_port HOTLINE_ADMIN_LISTEN=$admin
export HOTLINE_MEDIA_RTP_PORT_MIN=${RTP_MIN:-31200} HOTLINE_MEDIA_RTP_PORT_MAX=${RTP_MAX:-31400}
bs_rtp_min=31600 bs_rtp_max=31700

command -v baresip >/dev/null || { echo "baresip not installed (Debian: baresip-core)"; exit 1; }
out=$(mktemp -d)
hpid= bpid=
cleanup() {
	for p in $bpid $hpid; do kill "$p" 2>/dev/null || true; done
	for p in $bpid $hpid; do wait "$p" 2>/dev/null || true; done
	if [ -n "${KEEP:-}" ]; then echo "kept $out"; else rm -rf "$out"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "baresip interop FAILED: $*"
	echo "--- hotline log"; cat "$out/hotline.log" 2>/dev/null || true
	echo "--- baresip log"; cat "$out/baresip.log" 2>/dev/null || true
	echo "--- driver"; cat "$out/drive.log" 2>/dev/null || true
	exit 1
}

"$bin" serve >"$out/hotline.log" 2>&1 &
hpid=$!
for _ in $(seq 50); do
	curl -fs -m 2 "http://$admin/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fs -m 2 "http://$admin/readyz" >/dev/null 2>&1 || fail "hotline did not become ready on $admin"

# The microphone: 90 s of 8 kHz mono S16LE silence. aufile hangs up the call when its file
# ends, so it must outlast the call (which takes about 10 s).
python3 - "$out/caller.wav" <<'PY'
import sys, wave
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
    w.writeframes(b"\0\0" * 8000 * 90)
PY

mkdir "$out/cfg"
sed -e "s|@SIP_PORT@|$bs_sip_port|; s|@CTRL_ADDR@|$bs_ctrl|; s|@WAV@|$out/caller.wav|" \
	-e "s|@RTP_MIN@|$bs_rtp_min|; s|@RTP_MAX@|$bs_rtp_max|; s|@OUT@|$out|" \
	"$here/config.in" >"$out/cfg/config"
cp "$here/accounts.in" "$out/cfg/accounts"
: >"$out/cfg/contacts"

# -s: SIP trace in the log; -t: hard stop even if everything else hangs.
baresip -s -f "$out/cfg" -t 60 </dev/null >"$out/baresip.log" 2>&1 &
bpid=$!

echo "== baresip: demo walk 2, 1, * with RFC 2833 (sndcode)"
timeout 60 python3 "$here/drive.py" "$bs_ctrl" "$admin" "sip:hotline@127.0.0.1:$sip_port" baresip \
	'2:payments,1:payments_refund,*:payments' >"$out/drive.log" 2>&1 ||
	fail "driving the call"
cat "$out/drive.log"

# The finished record appears once Hotline has handled the BYE.
for _ in $(seq 50); do
	curl -fs -m 2 "http://$admin/api/v1/calls" >"$out/calls.json" 2>/dev/null &&
		python3 -c 'import json,sys; sys.exit(not any(c["caller"]["user"]=="baresip" for c in json.load(open(sys.argv[1]))["finished"]))' "$out/calls.json" &&
		break
	sleep 0.1
done
python3 - "$out/calls.json" <<'PY' || fail "call path"
import json, sys
calls = json.load(open(sys.argv[1]))["finished"]
walk = [c for c in calls if c["caller"]["user"] == "baresip"]
assert len(walk) == 1, f"want one finished baresip call, got {len(walk)}"
c = walk[0]
nodes = [n["node"] for n in c["nodes"]]
keys = [(k["key"], k["mode"]) for k in c["keys"]]
print("call:", c["call_id"], "codec:", c["codec"], "outcome:", c["outcome"])
print("nodes:", nodes)
print("keys:", keys)
assert nodes == ["main", "payments", "payments_refund", "payments"], nodes
assert keys == [(k, "rfc4733") for k in ["2", "1", "*"]], keys
assert c["codec"] in ("PCMU", "PCMA"), c["codec"]
assert c["outcome"] == "caller_hangup", c["outcome"]
PY
# Hotline's RTP reached baresip and decoded to sound: sndfile's dump of the received audio
# holds the prompts, not silence.
python3 - "$out"/dump-*-dec.wav <<'PY' || fail "audio from Hotline"
import array, math, sys, wave
w = wave.open(sys.argv[1])
a = array.array("h", w.readframes(w.getnframes()))
secs = len(a) / w.getframerate()
rms = math.sqrt(sum(x * x for x in a) / max(1, len(a)))
print(f"received audio: {secs:.1f} s, rms {rms:.0f}")
assert secs > 1 and rms > 100, "no prompt audio received"
PY
echo "baresip interop: ok"
