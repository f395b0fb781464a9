#!/usr/bin/env bash
# Interop, SIP over TLS: real baresip 1.0.0 (Debian baresip-core), headless, calls a real
# `hotline serve` over TLS (sip:...;transport=tls) on loopback. Hotline's certificate comes
# from `hotline cert`; baresip is given it as its CA (sip_cafile). Two calls:
#   1. the demo walk 2, 1, * by RFC 2833, then baresip hangs up: the call's path is checked
#      in the admin API and the received audio holds the prompts;
#   2. key 0 (goodbye): Hotline hangs up; its BYE must go over the TLS connection baresip
#      opened, not a new one to the TLS port baresip's Contact names.
# baresip's SIP trace then shows every message of both calls went over TLS, with Hotline's
# Contact saying transport=tls. baresip 1.0.0 (libre 1.1) does not verify the server's
# certificate (a wrong sip_cafile connects all the same, tried here), so a verifying client,
# openssl s_client, checks that Hotline serves the `hotline cert` certificate and that it
# verifies for 127.0.0.1. Every wait is bounded; the whole run takes about 20 s.
# The baresip config is config.in plus the TLS lines, in a temporary dir.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${HOTLINE_BIN:-bin/hotline}
unset HOTLINE_BIN # every HOTLINE_ variable the server sees must name a config key
here=testdata/baresip
sip_port=${SIP_PORT:-25460}
tls_port=${TLS_PORT:-25461}
admin=${ADMIN_ADDR:-127.0.0.1:28480}
bs_sip_port=${BARESIP_SIP_PORT:-25470}
bs_ctrl=${BARESIP_CTRL_ADDR:-127.0.0.1:25475}  # not SIP port + 1: baresip opens TLS there
bs_rtp_min=32700 bs_rtp_max=32798

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
	echo "baresip TLS interop FAILED: $*"
	echo "--- hotline log"; cat "$out/hotline.log" 2>/dev/null || true
	echo "--- baresip log"; cat "$out/baresip.log" 2>/dev/null || true
	echo "--- driver"; cat "$out"/drive*.log 2>/dev/null || true
	exit 1
}

"$bin" cert --host 127.0.0.1 --out "$out/tls" >/dev/null || fail "hotline cert"
export HOTLINE_SIP_LISTEN=127.0.0.1:$sip_port HOTLINE_ADMIN_LISTEN=$admin
export HOTLINE_SIP_TLS_LISTEN=127.0.0.1:$tls_port
export HOTLINE_SIP_TLS_CERT=$out/tls/cert.pem HOTLINE_SIP_TLS_KEY=$out/tls/key.pem
export HOTLINE_MEDIA_RTP_PORT_MIN=${RTP_MIN:-32400} HOTLINE_MEDIA_RTP_PORT_MAX=${RTP_MAX:-32598}

"$bin" serve >"$out/hotline.log" 2>&1 &
hpid=$!
for _ in $(seq 50); do
	curl -fs -m 2 "http://$admin/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fs -m 2 "http://$admin/readyz" >/dev/null 2>&1 || fail "hotline did not become ready on $admin"

if command -v openssl >/dev/null; then
	echo "== openssl s_client: the certificate verifies for 127.0.0.1"
	timeout 10 openssl s_client -connect "127.0.0.1:$tls_port" -CAfile "$out/tls/cert.pem" \
		-verify_ip 127.0.0.1 -verify_return_error </dev/null >"$out/s_client.log" 2>&1 ||
		fail "openssl s_client: $(tail -5 "$out/s_client.log")"
	grep -E "^ *(Protocol|Verify return code)" "$out/s_client.log" | sed "s/^ *//" | sort -u
else
	echo "== openssl not installed: certificate verification not checked"
fi

# The microphone: 90 s of silence (aufile hangs up when its file ends).
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
cat >>"$out/cfg/config" <<EOF

# TLS: trust Hotline's self-signed certificate (it is its own CA).
sip_cafile		$out/tls/cert.pem
EOF
cp "$here/accounts.in" "$out/cfg/accounts"
: >"$out/cfg/contacts"

baresip -s -f "$out/cfg" -t 90 </dev/null >"$out/baresip.log" 2>&1 &
bpid=$!
uri="sip:hotline@127.0.0.1:$tls_port;transport=tls"

echo "== baresip over TLS: demo walk 2, 1, * with RFC 2833, baresip hangs up"
timeout 60 python3 "$here/drive.py" "$bs_ctrl" "$admin" "$uri" baresip \
	'2:payments,1:payments_refund,*:payments' >"$out/drive.log" 2>&1 ||
	fail "driving the call"
cat "$out/drive.log"

echo "== baresip over TLS: key 0, Hotline says goodbye and hangs up"
timeout 60 python3 - "$here" "$bs_ctrl" "$admin" "$uri" >"$out/drive-bye.log" 2>&1 <<'PY' || fail "the goodbye call"
import sys, time
sys.path.insert(0, sys.argv[1])
from drive import Ctrl, wait_call, log
ctrl_addr, admin, uri = sys.argv[2:5]
ctrl = Ctrl(ctrl_addr)
closed = lambda m: m.get("event") and m.get("type") == "CALL_CLOSED"
ctrl.send("dial", uri)
ctrl.wait(lambda m: m.get("event") and m.get("type") == "CALL_ESTABLISHED", "CALL_ESTABLISHED", fail=closed)
wait_call(admin, "baresip", lambda c: c["prompts"] and c["prompts"][-1]["prompt"] == "main", "play the main prompt")
time.sleep(0.3)
ctrl.send("sndcode", "0")
ctrl.wait(closed, "Hotline's BYE (CALL_CLOSED)", timeout=20)
log("call closed by Hotline")
PY
cat "$out/drive-bye.log"

for _ in $(seq 50); do
	curl -fs -m 2 "http://$admin/api/v1/calls" >"$out/calls.json" 2>/dev/null &&
		python3 -c 'import json,sys; sys.exit(sum(c["caller"]["user"]=="baresip" for c in json.load(open(sys.argv[1]))["finished"]) < 2)' "$out/calls.json" &&
		break
	sleep 0.1
done
python3 - "$out/calls.json" <<'PY' || fail "call records"
import json, sys
calls = [c for c in json.load(open(sys.argv[1]))["finished"] if c["caller"]["user"] == "baresip"]
assert len(calls) == 2, f"want two finished baresip calls, got {len(calls)}"
bye, walk = calls  # newest first
nodes = [n["node"] for n in walk["nodes"]]
keys = [(k["key"], k["mode"]) for k in walk["keys"]]
print("walk:", walk["call_id"], "codec:", walk["codec"], "outcome:", walk["outcome"], "nodes:", nodes, "keys:", keys)
assert nodes == ["main", "payments", "payments_refund", "payments"], nodes
assert keys == [(k, "rfc4733") for k in ["2", "1", "*"]], keys
assert walk["outcome"] == "caller_hangup", walk["outcome"]
print("goodbye:", bye["call_id"], "outcome:", bye["outcome"], "keys:", [k["key"] for k in bye["keys"]])
assert [k["key"] for k in bye["keys"]] == ["0"], bye["keys"]
assert bye["outcome"] == "goodbye", bye["outcome"]
PY
python3 - "$out"/dump-*-dec.wav <<'PY' || fail "audio from Hotline"
import array, math, sys, wave
w = wave.open(sys.argv[1])
a = array.array("h", w.readframes(w.getnframes()))
secs = len(a) / w.getframerate()
rms = math.sqrt(sum(x * x for x in a) / max(1, len(a)))
print(f"received audio (first call): {secs:.1f} s, rms {rms:.0f}")
assert secs > 1 and rms > 100, "no prompt audio received"
PY
# The SIP trace (baresip -s: "TLS from -> to" before each message): every message of both
# calls went over TLS; Hotline's 200s name its TLS address with transport=tls; its BYE came
# over the connection baresip opened, not a new one to baresip's own TLS port.
python3 - "$out/baresip.log" "127.0.0.1:$tls_port" "127.0.0.1:$((bs_sip_port + 1))" <<'PY' || fail "SIP trace"
import re, sys
log, hotline, bs_listen = open(sys.argv[1], errors="replace").read(), sys.argv[2], sys.argv[3]
msgs = re.findall(r"(?m)^(UDP|TCP|TLS) (\S+) -> (\S+)\r?\n([^\r\n]+)", log)
assert msgs, "no SIP trace in the baresip log (-s)"
for transport, src, dst, first in msgs:
    assert transport == "TLS", f"{src} -> {dst} over {transport}: {first}"
oks = re.findall(r"(?ms)^TLS \S+ -> \S+\r?\nSIP/2\.0 200 OK\r?\n.*?^Contact: <([^>]*)>.*?^CSeq: \d+ INVITE", log)
assert oks and all(hotline in c and "transport=tls" in c for c in oks), f"Contacts of Hotline's 200s: {oks}"
byes = [(src, dst) for t, src, dst, first in msgs if first.startswith("BYE ") and src == hotline]
assert byes, "no BYE from Hotline in the trace"
conns = {src for t, src, dst, first in msgs if dst == hotline}
for src, dst in byes:
    assert dst in conns and dst != bs_listen, f"Hotline's BYE went to {dst}, not to baresip's connection {conns}"
print(f"SIP trace: {len(msgs)} messages, all over TLS; Hotline's Contact {oks[0]}; its BYE over baresip's connection {byes[0][1]}")
PY
echo "baresip TLS interop: ok"
