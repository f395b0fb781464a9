#!/usr/bin/env python3
"""Drive one baresip call through its ctrl_tcp socket (netstring JSON), for run.sh.

    drive.py CTRL_ADDR ADMIN_ADDR URI CALLER STEPS

STEPS is KEY:NODE,KEY:NODE,...: before each key the script waits until Hotline's live call
from CALLER is at the node the previous step named (the first at the menu root, "main") and
has started its prompt; after sending the key with `sndcode` it waits until Hotline reports
the key and the call enters NODE. Then it hangs up and waits for baresip's CALL_CLOSED.
Every wait is bounded; any failure exits 1 with a message on stderr.
"""
import json
import socket
import sys
import time
import urllib.request

WAIT = 15.0  # seconds, for any single step


def die(msg):
    print(f"drive: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def log(msg):
    print(f"drive: {msg}", flush=True)


class Ctrl:
    """A ctrl_tcp connection: commands out, responses and events in."""

    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        deadline = time.monotonic() + WAIT
        while True:
            try:
                self.sock = socket.create_connection((host, int(port)), timeout=1)
                break
            except OSError as e:
                if time.monotonic() > deadline:
                    die(f"ctrl_tcp {addr} not reachable: {e}")
                time.sleep(0.1)
        self.sock.settimeout(0.2)
        self.buf = b""
        self.msgs = []  # decoded messages not consumed yet
        self.ntoken = 0

    def send(self, command, params=""):
        self.ntoken += 1
        token = f"t{self.ntoken}"
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self.sock.sendall(b"%d:%s," % (len(body), body))
        log(f"-> {command} {params}")
        resp = self.wait(lambda m: m.get("response") and m.get("token") == token, f"response to {command}")
        if not resp.get("ok"):
            die(f"{command} {params!r} failed: {resp}")
        return resp

    def _read(self):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        if not data:
            die("ctrl_tcp connection closed by baresip")
        self.buf += data
        while True:
            colon = self.buf.find(b":")
            if colon < 0:
                return
            n = int(self.buf[:colon])
            if len(self.buf) < colon + 1 + n + 1:
                return
            body = self.buf[colon + 1 : colon + 1 + n]
            self.buf = self.buf[colon + 1 + n + 1 :]
            msg = json.loads(body)
            if msg.get("event"):
                log(f"<- event {msg.get('type')} {msg.get('param', '')}".rstrip())
            self.msgs.append(msg)

    def wait(self, pred, what, timeout=WAIT, fail=None):
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.msgs):
                if fail and fail(m):
                    die(f"while waiting for {what}: {m}")
                if pred(m):
                    del self.msgs[i]
                    return m
            if time.monotonic() > deadline:
                die(f"timed out after {timeout:.0f}s waiting for {what}")
            self._read()


def live_call(admin, caller):
    with urllib.request.urlopen(f"http://{admin}/api/v1/calls", timeout=2) as r:
        calls = json.load(r)
    mine = [c for c in calls.get("live") or [] if c["caller"]["user"] == caller]
    return mine[0] if len(mine) == 1 else None


def wait_call(admin, caller, pred, what):
    deadline = time.monotonic() + WAIT
    c = None
    while time.monotonic() < deadline:
        c = live_call(admin, caller)
        if c is not None and pred(c):
            return c
        time.sleep(0.1)
    die(f"timed out waiting for Hotline's live call to {what}; last seen: {json.dumps(c)}")


def main():
    ctrl_addr, admin, uri, caller, steps = sys.argv[1:6]
    steps = [s.split(":", 1) for s in steps.split(",")]
    ctrl = Ctrl(ctrl_addr)
    closed = lambda m: m.get("event") and m.get("type") == "CALL_CLOSED"

    ctrl.send("dial", uri)
    ctrl.wait(lambda m: m.get("event") and m.get("type") == "CALL_ESTABLISHED",
              "CALL_ESTABLISHED", fail=closed)

    node, nkeys = "main", 0
    for key, want in steps:
        # At the node, with its prompt started (so the key lands in this node).
        wait_call(admin, caller,
                  lambda c: c["nodes"] and c["nodes"][-1]["node"] == node and len(c["keys"] or []) == nkeys
                  and c["prompts"] and c["prompts"][-1]["prompt"] == node,
                  f"be at node {node!r} playing its prompt")
        time.sleep(0.3)
        ctrl.send("sndcode", key)
        nkeys += 1
        wait_call(admin, caller,
                  lambda c: len(c["keys"] or []) >= nkeys and c["nodes"][-1]["node"] == want,
                  f"report key {key!r} and enter node {want!r}")
        log(f"key {key} -> node {want}")
        node = want
        if any(closed(m) for m in ctrl.msgs):
            die("call closed early")

    time.sleep(1.0)  # let a duplicated key (if any) reach the call record before hanging up
    ctrl.send("hangup")
    ctrl.wait(closed, "CALL_CLOSED")
    log("call closed")


if __name__ == "__main__":
    main()
