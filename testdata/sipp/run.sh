#!/usr/bin/env bash
# Interop: real sipp (Debian sip-tester) against a real `hotline serve` on loopback.
# sipp walks the embedded demo menu with its bundled RFC 2833 pcaps (PCMU + telephone-event
# offer); the call's path is then checked through the admin API.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${HOTLINE_BIN:-bin/hotline}
unset HOTLINE_BIN # every HOTLINE_ variable the server sees must name a config key
out=$(mktemp -d)
sip_port=${SIP_PORT:-25060}
admin=${ADMIN_ADDR:-127.0.0.1:28080}
export HOTLINE_SIP_LISTEN=127.0.0.1:$sip_port HOTLINE_ADMIN_LISTEN=$admin
export HOTLINE_MEDIA_RTP_PORT_MIN=30000 HOTLINE_MEDIA_RTP_PORT_MAX=31000

"$bin" serve >"$out/hotline.log" 2>&1 &
pid=$!
extra_pids=() # servers and sipps of the later steps
cleanup() {
	kill "$pid" ${extra_pids[@]+"${extra_pids[@]}"} 2>/dev/null || true
	wait "$pid" ${extra_pids[@]+"${extra_pids[@]}"} 2>/dev/null || true
	rm -rf "$out"
}
trap cleanup EXIT
for _ in $(seq 50); do
	curl -fs "http://$admin/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fs "http://$admin/readyz" >/dev/null || { echo "hotline did not become ready"; cat "$out/hotline.log"; exit 1; }

fail() { echo "interop FAILED: $*"; echo "--- hotline log"; cat "$out/hotline.log"; exit 1; }

# walk SCENARIO USER MODE NODES KEYS [EXTRA_SIPP_ARGS...]: run one sipp call, then check the
# finished call from USER: nodes entered and keys counted (each by MODE, each exactly once).
walk() {
	local scenario=$1 user=$2 mode=$3 nodes=$4 keys=$5
	shift 5
	echo "== sipp: $scenario"
	sipp 127.0.0.1:"$sip_port" -sf "testdata/sipp/$scenario" -m 1 -l 1 \
		-i 127.0.0.1 -p 25070 -mi 127.0.0.1 -mp 26000 -timeout 60s -timeout_error \
		-nostdin -trace_err -error_file "$out/sipp_err.log" "$@" >"$out/sipp.out" 2>&1 ||
		{ cat "$out/sipp.out" "$out/sipp_err.log" 2>/dev/null; fail "sipp call $scenario failed"; }
	curl -fs "http://$admin/api/v1/calls" >"$out/calls.json"
	python3 - "$out/calls.json" "$user" "$mode" "$nodes" "$keys" <<'PY' || fail "call path of $scenario"
import json, sys
calls = json.load(open(sys.argv[1]))["finished"]
user, mode, want_nodes, want_keys = sys.argv[2], sys.argv[3], sys.argv[4].split(","), list(sys.argv[5])
mine = [c for c in calls if c["caller"]["user"] == user]
assert len(mine) == 1, f"want one finished call from {user}, got {len(mine)}"
c = mine[0]
nodes = [n["node"] for n in c["nodes"]]
keys = [(k["key"], k["mode"]) for k in c["keys"]]
print("  nodes:", nodes, "keys:", keys, "outcome:", c["outcome"])
assert nodes == want_nodes, f"nodes {nodes}, want {want_nodes}"
assert keys == [(k, mode) for k in want_keys], f"keys {keys}, want {want_keys} by {mode}"
assert c["outcome"] == "caller_hangup", c["outcome"]
PY
}

# RFC 2833 with sipp's bundled pcaps: 1 (account), 2 (sign-in help, cut short by the next
# key), * (back to main), 3 (orders), 0 (not an option there: invalid).
walk menu_walk.xml sipp rfc4733 main,account,main,orders '12*30'

# SIP INFO (dtmf-relay and dtmf bodies), no telephone-event offered.
walk menu_walk_info.xml sippinfo info main,payments,payments_refund,payments '21*'

# In-band: G.711 audio carrying tones made by `hotline tones`, no telephone-event offered,
# so only the Goertzel detector can hear the keys.
mkdir -p testdata/out
"$bin" tones '2,p1.5s,1,p1.5s,*' --lead 1.5s --tail 2s --out testdata/out/tones.ulaw
walk menu_walk_inband.xml sipptones inband main,payments,payments_refund,payments '21*'

# Late offer: an INVITE without SDP gets Hotline's offer in the 200, sipp answers in the ACK,
# then presses 1 (account) by RFC 2833.
walk late_offer.xml sipplate rfc4733 main,account '1'

# RFC 4028 session timers as a carrier uses them: Session-Expires 90 with refresher=uac (the
# 200 keeps it, with Require: timer), refreshed by UPDATE and by re-INVITE, then BYE.
walk session_timer.xml sipptimer rfc4733 main ''

# Carrier registration: a second `hotline serve` with a trunk (register: true) pointing at
# sipp as the carrier's registrar (carrier_register.xml: 401, then 200 granting 300 s).
# /api/v1/trunks must show the trunk registered and up; at SIGTERM Hotline removes the
# binding (Expires: 0, challenged again) before it exits, which ends sipp's scenario.
echo "== sipp: carrier_register.xml"
reg_sip=127.0.0.1:$((sip_port + 2)) reg_admin=127.0.0.1:$(( ${admin##*:} + 2 )) carrier_port=$((sip_port + 40))
mkdir -p "$out/reg"
python3 - cmd/hotline/defaults/hotline.yaml "$out/reg/hotline.yaml" "$PWD/cmd/hotline/defaults/prompts" "$carrier_port" <<'PY'
import sys
src, dst, prompts, port = sys.argv[1:]
lines = [l.replace("{file: prompts/", "{file: " + prompts + "/") for l in open(src).read().splitlines()]
i = lines.index("sip:") + 1
lines[i:i] = ["  trunks:",
              f'    - {{name: carrier, uri: "sip:127.0.0.1:{port}", username: acct1, password: trunkpw, register: true}}']
open(dst, "w").write("\n".join(lines) + "\n")
PY
timeout 60 sipp -sf testdata/sipp/carrier_register.xml -i 127.0.0.1 -p "$carrier_port" -m 1 \
	-timeout 50s -timeout_error -nostdin -trace_err -error_file "$out/reg/sipp_err.log" \
	>"$out/reg/sipp.out" 2>&1 &
sipp_pid=$!
HOTLINE_SIP_LISTEN=$reg_sip HOTLINE_ADMIN_LISTEN=$reg_admin \
	HOTLINE_MEDIA_RTP_PORT_MIN=31002 HOTLINE_MEDIA_RTP_PORT_MAX=31100 \
	"$bin" serve --config "$out/reg/hotline.yaml" --data "$out/reg" >"$out/reg/hotline.log" 2>&1 &
reg_pid=$!
regfail() {
	kill "$reg_pid" "$sipp_pid" 2>/dev/null || true
	echo "--- sipp (carrier)"; cat "$out/reg/sipp.out" "$out/reg/sipp_err.log" 2>/dev/null || true
	echo "--- trunks"; cat "$out/reg/trunks.json" 2>/dev/null || true
	echo "--- hotline (trunk) log"; cat "$out/reg/hotline.log"
	fail "$*"
}
registered= deadline=$((SECONDS + 15))
while [ "$SECONDS" -lt "$deadline" ]; do
	curl -fs -m 2 "http://$reg_admin/api/v1/trunks" >"$out/reg/trunks.json" 2>/dev/null &&
		python3 - "$out/reg/trunks.json" <<'PY' && { registered=1; break; }
import json, sys
t = {t["name"]: t for t in json.load(open(sys.argv[1]))["trunks"]}["carrier"]
sys.exit(not (t["registered"] and t["up"] and t["registered_until"]))
PY
	sleep 0.1
done
[ -n "$registered" ] || regfail "the trunk did not register"
echo "  trunks: $(tr -d ' \n' <"$out/reg/trunks.json")"
kill -TERM "$reg_pid"
wait "$reg_pid" || regfail "hotline (trunk) exited with $?"
wait "$sipp_pid" || regfail "sipp (carrier) saw no unregister: exit $?"

# --- Steps with their own `hotline serve` (each: its own config, SIP, admin and RTP ports).
# mkconfig DST EDIT...: the embedded default config with absolute prompt paths, edited:
# "sip+LINE" inserts LINE under sip:, "allow=LIST" sets sip.allow, "main+LINE" adds an
# option line to the main menu node.
mkconfig() {
	python3 - cmd/hotline/defaults/hotline.yaml "$PWD/cmd/hotline/defaults/prompts" "$@" <<'PY'
import sys
src, prompts, dst, *edits = sys.argv[1:]
lines = [l.replace("{file: prompts/", "{file: " + prompts + "/") for l in open(src).read().splitlines()]
for e in edits:
    if e.startswith("sip+"):
        lines.insert(lines.index("sip:") + 1, "  " + e[4:])
    elif e.startswith("allow="):
        i = next(i for i, l in enumerate(lines) if l.startswith("  allow:"))
        lines[i] = "  allow: " + e[6:]
    elif e.startswith("main+"):
        i = lines.index("      options:", lines.index("    main:")) + 1
        lines.insert(i, "        " + e[5:])
    else:
        sys.exit("mkconfig: unknown edit " + e)
open(dst, "w").write("\n".join(lines) + "\n")
PY
}
# serve DIR SIP_PORT ADMIN_PORT RTP_MIN [ENV=VALUE...]: start hotline with DIR/hotline.yaml
# (data in DIR, log DIR/hotline.log, 100 RTP ports), wait for /readyz; sets srv_pid.
serve() {
	local dir=$1 sport=$2 aport=$3 rmin=$4
	shift 4
	env HOTLINE_SIP_LISTEN=127.0.0.1:$sport HOTLINE_ADMIN_LISTEN=127.0.0.1:$aport \
		HOTLINE_MEDIA_RTP_PORT_MIN=$rmin HOTLINE_MEDIA_RTP_PORT_MAX=$((rmin + 100)) "$@" \
		"$bin" serve --config "$dir/hotline.yaml" --data "$dir" >"$dir/hotline.log" 2>&1 &
	srv_pid=$!
	extra_pids+=("$srv_pid")
	for _ in $(seq 50); do
		curl -fs "http://127.0.0.1:$aport/readyz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	curl -fs "http://127.0.0.1:$aport/readyz" >/dev/null || { cat "$dir/hotline.log"; fail "hotline in $dir did not become ready"; }
}
# sippcall DIR NAME ARGS...: one bounded sipp run (output in DIR/NAME.out, errors DIR/NAME.err).
sippcall() {
	local dir=$1 name=$2
	shift 2
	timeout 60 sipp -m 1 -l 1 -timeout 50s -timeout_error -nostdin -trace_err \
		-error_file "$dir/$name.err" "$@" >"$dir/$name.out" 2>&1
}
stepfail() { # DIR MESSAGE
	echo "--- sipp"; tail -n 40 "$1"/*.out "$1"/*.err 2>/dev/null || true
	echo "--- hotline ($1) log"; cat "$1/hotline.log"
	fail "$2"
}

# Calls arriving from the trunk's address: sip.allow [none] and a trusted trunk whose source
# is 127.0.0.1. A call from there with a P-Asserted-Identity is accepted and recorded as the
# trunk's, identity trusted; a call from 127.0.0.2 (not the trunk, not allowed) gets 403.
echo "== sipp: trunk_call.xml, trunk_refused.xml"
t_sip=$((sip_port + 4)) t_admin=$(( ${admin##*:} + 4 )) t_dir=$out/trunk
mkdir -p "$t_dir"
mkconfig "$t_dir/hotline.yaml" "allow=[none]" \
	'sip+trunks: [{name: carrier, uri: "sip:127.0.0.1:25074", source: [127.0.0.1], trusted: true}]'
serve "$t_dir" "$t_sip" "$t_admin" 31200
sippcall "$t_dir" call 127.0.0.1:"$t_sip" -sf testdata/sipp/trunk_call.xml -i 127.0.0.1 -p 25074 \
	-mi 127.0.0.1 -mp 26100 || stepfail "$t_dir" "trunk call from 127.0.0.1 failed"
sippcall "$t_dir" refused 127.0.0.1:"$t_sip" -sf testdata/sipp/trunk_refused.xml -i 127.0.0.2 -p 25076 \
	-mi 127.0.0.2 -mp 26110 || stepfail "$t_dir" "call from 127.0.0.2 was not refused with 403"
curl -fs "http://127.0.0.1:$t_admin/api/v1/calls" >"$t_dir/calls.json"
python3 - "$t_dir/calls.json" <<'PY' || stepfail "$t_dir" "trunk call record"
import json, sys
fin = json.load(open(sys.argv[1]))["finished"]
mine = [c for c in fin if c["caller"]["user"] == "sipptrunk"]
assert len(mine) == 1, f"want one finished call from sipptrunk, got {len(mine)}"
c = mine[0]
print("  trunk:", c.get("trunk"), "trusted:", c["identity_trusted"], "asserted:", c.get("asserted_identity"),
      "source:", c.get("source"), "nodes:", [n["node"] for n in c["nodes"]], "outcome:", c["outcome"])
assert c.get("trunk") == "carrier", c.get("trunk")
assert c["identity_trusted"] is True, c["identity_trusted"]
assert (c.get("asserted_identity") or {}).get("user") == "+8613800138000", c.get("asserted_identity")
assert [n["node"] for n in c["nodes"]] == ["main", "account"], c["nodes"]
assert not [c for c in fin if c["caller"]["user"] == "sippstranger"], "the stranger's call has a record"
PY
kill "$srv_pid"; wait "$srv_pid" || true

# Retry-After read: max_calls 1 (set through its env override), a walk holds the slot, and a
# second INVITE must get 503 with a Retry-After header (retry_after.xml fails without one).
echo "== sipp: retry_after.xml"
o_sip=$((sip_port + 6)) o_admin=$(( ${admin##*:} + 6 )) o_dir=$out/overload
mkdir -p "$o_dir"
mkconfig "$o_dir/hotline.yaml"
serve "$o_dir" "$o_sip" "$o_admin" 31400 HOTLINE_MAX_CALLS=1
sippcall "$o_dir" holder 127.0.0.1:"$o_sip" -sf testdata/sipp/menu_walk.xml -i 127.0.0.1 -p 25078 \
	-mi 127.0.0.1 -mp 26120 &
holder=$!
extra_pids+=("$holder")
up= deadline=$((SECONDS + 10))
while [ "$SECONDS" -lt "$deadline" ]; do
	curl -fs "http://127.0.0.1:$o_admin/api/v1/calls" 2>/dev/null | python3 -c \
		'import json,sys; sys.exit(not json.load(sys.stdin).get("live"))' && { up=1; break; }
	sleep 0.1
done
[ -n "$up" ] || stepfail "$o_dir" "the holding call never became active"
sippcall "$o_dir" busy 127.0.0.1:"$o_sip" -sf testdata/sipp/retry_after.xml -i 127.0.0.1 -p 25080 \
	-mi 127.0.0.1 -mp 26130 -trace_logs -log_file "$o_dir/busy.log" ||
	stepfail "$o_dir" "no 503 with Retry-After while max_calls was reached"
echo "  $(grep -m1 'Retry-After' "$o_dir/busy.log" || true)"
wait "$holder" || stepfail "$o_dir" "the call holding the slot failed"
kill "$srv_pid"; wait "$srv_pid" || true

# A transfer reaches a sipp UAS standing in for a partner line, with audio both ways: key 5
# of the main menu is {action: transfer, uri: sip:partner@127.0.0.1:25084}. The partner
# (partner_uas.xml, -rtp_echo) sends back every RTP packet it gets; the caller
# (transfer_call.xml) streams caller.ulaw. Evidence of media both ways, from a capture on lo
# (python, AF_PACKET; root): the partner got the caller's audio from Hotline (payloads cut
# from caller.ulaw), sent it back, and the caller got it through the bridge.
echo "== sipp: transfer_call.xml -> partner_uas.xml"
x_sip=$((sip_port + 8)) x_admin=$(( ${admin##*:} + 8 )) x_dir=$out/transfer
partner_port=25084 partner_media=26200 xcaller_media=26140
mkdir -p "$x_dir"
mkconfig "$x_dir/hotline.yaml" \
	"main+\"5\": {action: transfer, uri: \"sip:partner@127.0.0.1:$partner_port\", timeout: 10s}"
serve "$x_dir" "$x_sip" "$x_admin" 31600
python3 - "$x_dir" "$partner_media" "$xcaller_media" testdata/sipp/caller.ulaw <<'PY' &
# Counts UDP packets on lo to the two media ports until SIGTERM, then writes rtp.json.
import json, os, signal, socket, struct, sys
d, partner, caller, ulaw = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), open(sys.argv[4], "rb").read()
ulaw2 = ulaw + ulaw
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.bind(("lo", 0))
s.settimeout(0.2)
stats = {p: {"packets": 0, "caller_audio": 0, "from": {}} for p in (partner, caller)}
stats["partner_sent"] = sent = {"caller_audio": 0}
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
open(os.path.join(d, "sniff.ready"), "w").close()
while not stop:
    try:
        pkt, addr = s.recvfrom(4096)
    except socket.timeout:
        continue
    if addr[2] == socket.PACKET_OUTGOING:
        continue  # lo shows each packet twice
    ip = pkt[14:]
    if ip[9] != 17:
        continue
    ihl = (ip[0] & 15) * 4
    sport, dport = struct.unpack("!HH", ip[ihl:ihl + 4])
    rtp = ip[ihl + 8:]
    if sport == partner and len(rtp) == 172 and rtp[12:] in ulaw2:
        sent["caller_audio"] += 1  # the partner's echo, on its way back to Hotline
    if dport not in stats:
        continue
    st = stats[dport]
    st["packets"] += 1
    st["from"][str(sport)] = st["from"].get(str(sport), 0) + 1
    if len(rtp) == 172 and rtp[1] & 127 == 0 and rtp[12:] in ulaw2:
        st["caller_audio"] += 1
json.dump({str(k): v for k, v in stats.items()}, open(os.path.join(d, "rtp.json"), "w"))
PY
sniff=$!
extra_pids+=("$sniff")
for _ in $(seq 50); do [ -e "$x_dir/sniff.ready" ] && break; sleep 0.1; done
[ -e "$x_dir/sniff.ready" ] || stepfail "$x_dir" "the RTP capture did not start"
sippcall "$x_dir" partner -sf testdata/sipp/partner_uas.xml -i 127.0.0.1 -p "$partner_port" \
	-mi 127.0.0.1 -mp "$partner_media" -rtp_echo &
partner=$!
extra_pids+=("$partner")
sippcall "$x_dir" caller 127.0.0.1:"$x_sip" -sf testdata/sipp/transfer_call.xml -i 127.0.0.1 -p 25082 \
	-mi 127.0.0.1 -mp "$xcaller_media" || stepfail "$x_dir" "the transfer caller failed"
wait "$partner" || stepfail "$x_dir" "the partner line (sipp UAS) failed: exit $?"
kill -TERM "$sniff"; wait "$sniff" || stepfail "$x_dir" "the RTP capture failed"
curl -fs "http://127.0.0.1:$x_admin/api/v1/calls" >"$x_dir/calls.json"
python3 - "$x_dir/calls.json" "$x_dir/rtp.json" "$partner_media" "$xcaller_media" <<'PY' ||
import json, sys
calls, rtp = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
partner, caller = sys.argv[3], sys.argv[4]
mine = [c for c in calls["finished"] if c["caller"]["user"] == "sippxfer"]
assert len(mine) == 1, f"want one finished call from sippxfer, got {len(mine)}"
c = mine[0]
t = c.get("transfer") or {}
print("  outcome:", c["outcome"], "transfer:", t)
print("  rtp to partner:", rtp[partner], "sent by partner:", rtp["partner_sent"], "to caller:", rtp[caller])
assert c["outcome"] == "transferred", c["outcome"]
assert t.get("answered_at"), "the transfer was never answered"
assert t.get("target", "").startswith("sip:partner@127.0.0.1"), t.get("target")
# caller -> Hotline -> partner: the caller's own audio reached the partner
assert rtp[partner]["caller_audio"] > 50, "the caller's audio did not reach the partner"
# partner -> Hotline -> caller: the partner sent it back, and it reached the caller (1 s = 50)
assert rtp["partner_sent"]["caller_audio"] > 50, "the partner sent no audio"
assert rtp[caller]["caller_audio"] > 50, "no audio from the partner reached the caller"
PY
	stepfail "$x_dir" "transfer to the partner line"
kill "$srv_pid"; wait "$srv_pid" || true

echo "interop: ok"
