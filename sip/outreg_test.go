package sip_test

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/hotline-ivr/hotline/sip"
)

// fakeTrunk is a carrier on raw UDP: a registrar that challenges every REGISTER with 401
// and checks the digest answer, an OPTIONS responder, and an INVITE answerer.
type fakeTrunk struct {
	conn     net.PacketConn
	user     string
	password string
	grant    int // seconds granted to a REGISTER that asks for more than 0

	forbid     atomic.Bool  // answer REGISTERs 403
	options    atomic.Bool  // answer OPTIONS (else drop them)
	inviteCode atomic.Int32 // final response to INVITEs; 0: drop them
	ringFirst  atomic.Bool  // send 180 Ringing before the final response

	regs     chan regSeen // each REGISTER answered with 2xx or 403 (after the challenge)
	optionsN atomic.Int32
	invites  atomic.Int32
}

type regSeen struct {
	expires int
	callID  string
	cseq    uint32
	code    int
	at      time.Time
}

const trunkRealm = "trunk.example"

func startFakeTrunk(t *testing.T, grant int) *fakeTrunk {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ft := &fakeTrunk{conn: conn, user: "acct1", password: "trunkpw", grant: grant, regs: make(chan regSeen, 64)}
	done := make(chan struct{})
	go func() { defer close(done); ft.serve() }()
	t.Cleanup(func() { _ = conn.Close(); <-done })
	return ft
}

func (ft *fakeTrunk) addr() string { return ft.conn.LocalAddr().String() }

func (ft *fakeTrunk) send(res *sipmsg.Response, to net.Addr) {
	_, _ = ft.conn.WriteTo([]byte(res.String()), to)
}

func (ft *fakeTrunk) serve() {
	buf := make([]byte, 65535)
	parser := sipmsg.NewParser()
	for {
		n, src, err := ft.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		msg, err := parser.ParseSIP(buf[:n])
		if err != nil {
			continue
		}
		req, ok := msg.(*sipmsg.Request)
		if !ok {
			continue
		}
		switch req.Method {
		case sipmsg.REGISTER:
			ft.onRegister(req, src)
		case sipmsg.OPTIONS:
			ft.optionsN.Add(1)
			if ft.options.Load() {
				ft.send(sipmsg.NewResponseFromRequest(req, 200, "OK", nil), src)
			}
		case sipmsg.INVITE:
			ft.invites.Add(1)
			code := int(ft.inviteCode.Load())
			if code == 0 {
				continue
			}
			res := req.Clone()
			res.To().Params.Add("tag", "trunk1")
			if code == 200 {
				ok := sipmsg.NewSDPResponseFromRequest(res, []byte(answerSDP))
				ok.AppendHeader(&sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", Host: "127.0.0.1",
					Port: ft.conn.LocalAddr().(*net.UDPAddr).Port}})
				ft.send(ok, src)
				continue
			}
			if ft.ringFirst.Load() { // rings a while, as a phone does, then gives up
				ft.send(sipmsg.NewResponseFromRequest(res, 180, "Ringing", nil), src)
				time.Sleep(100 * time.Millisecond)
			}
			ft.send(sipmsg.NewResponseFromRequest(res, code, "", nil), src)
		case sipmsg.BYE:
			ft.send(sipmsg.NewResponseFromRequest(req, 200, "OK", nil), src)
		}
	}
}

func (ft *fakeTrunk) onRegister(req *sipmsg.Request, src net.Addr) {
	if !ft.authorized(req) {
		res := sipmsg.NewResponseFromRequest(req, 401, "Unauthorized", nil)
		chal := digest.Challenge{Realm: trunkRealm, Nonce: "n" + strconv.Itoa(int(req.CSeq().SeqNo)), Algorithm: "MD5", QOP: []string{"auth"}}
		res.AppendHeader(sipmsg.NewHeader("WWW-Authenticate", chal.String()))
		ft.send(res, src)
		return
	}
	seen := regSeen{expires: -1, callID: req.CallID().Value(), cseq: req.CSeq().SeqNo, at: time.Now()}
	if h := req.GetHeader("Expires"); h != nil {
		seen.expires, _ = strconv.Atoi(h.Value())
	}
	var res *sipmsg.Response
	if ft.forbid.Load() {
		seen.code = 403
		res = sipmsg.NewResponseFromRequest(req, 403, "Forbidden", nil)
	} else {
		seen.code = 200
		res = sipmsg.NewResponseFromRequest(req, 200, "OK", nil)
		if seen.expires != 0 {
			ct := req.Contact().Clone()
			ct.Params.Add("expires", strconv.Itoa(ft.grant))
			res.AppendHeader(ct)
		}
	}
	ft.regs <- seen
	ft.send(res, src)
}

// authorized checks the REGISTER's Authorization (RFC 3261 §22.2).
func (ft *fakeTrunk) authorized(req *sipmsg.Request) bool {
	h := req.GetHeader("Authorization")
	if h == nil {
		return false
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil || cred.Username != ft.user || cred.Realm != trunkRealm {
		return false
	}
	want, err := digest.Digest(
		&digest.Challenge{Realm: trunkRealm, Nonce: cred.Nonce, Algorithm: "MD5", QOP: []string{"auth"}},
		digest.Options{Method: "REGISTER", URI: cred.URI, Username: ft.user, Password: ft.password,
			Cnonce: cred.Cnonce, Count: cred.Nc})
	return err == nil && want.Response == cred.Response
}

// waitFor polls cond until it holds or wait passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func trunkState(s *sip.Server, name string) sip.TrunkState {
	for _, ts := range s.Trunks() {
		if ts.Name == name {
			return ts
		}
	}
	return sip.TrunkState{}
}

func TestTrunk_RegistersRefreshesAndUnregisters(t *testing.T) {
	t.Parallel()
	ft := startFakeTrunk(t, 2) // the carrier grants 2 s: the refresh is due after 1 s
	cfg := sip.Config{UserAgent: "Hotline-Test", Trunks: []sip.Trunk{{Name: "carrier", URI: "sip:" + ft.addr(),
		Username: ft.user, Password: ft.password, Register: true}}}
	srv := startServerWith(t, cfg, nil, sip.HandlerFunc(noCalls))

	first := recv(t, ft.regs, "the first REGISTER")
	if first.code != 200 || first.expires != 3600 {
		t.Errorf("first REGISTER: %+v, want 200 to Expires 3600 (the default asked)", first)
	}
	waitFor(t, "the trunk registered", func() bool { return trunkState(srv.Server, "carrier").Registered })
	ts := trunkState(srv.Server, "carrier")
	if !ts.Up || !ts.Register || ts.LastError != "" || ts.RegisteredUntil.After(time.Now().Add(2*time.Second)) {
		t.Errorf("state after registering: %+v", ts)
	}

	refresh := recv(t, ft.regs, "the refresh")
	if gap := refresh.at.Sub(first.at); gap < 900*time.Millisecond || gap > 1900*time.Millisecond {
		t.Errorf("refresh %v after the first REGISTER, want about half of the 2 s granted", gap)
	}
	if refresh.callID != first.callID || refresh.cseq <= first.cseq {
		t.Errorf("refresh Call-ID %q CSeq %d after %q %d: want the same Call-ID, a higher CSeq",
			refresh.callID, refresh.cseq, first.callID, first.cseq)
	}

	if err := srv.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	last := recv(t, ft.regs, "the REGISTER at stop")
	for last.expires != 0 { // a refresh may have come meanwhile
		last = recv(t, ft.regs, "the REGISTER with Expires 0")
	}
	if last.expires != 0 || last.callID != first.callID {
		t.Errorf("at stop: %+v, want a REGISTER with Expires 0 in the same Call-ID", last)
	}
	if ts := trunkState(srv.Server, "carrier"); ts.Registered {
		t.Errorf("still registered after stop: %+v", ts)
	}
}

func TestTrunk_RegisterBacksOffOn403(t *testing.T) {
	t.Parallel()
	ft := startFakeTrunk(t, 60)
	ft.forbid.Store(true)
	cfg := sip.Config{UserAgent: "Hotline-Test", Trunks: []sip.Trunk{{Name: "carrier", URI: "sip:" + ft.addr(),
		Username: ft.user, Password: ft.password, Register: true}}}
	const lo, hi = 200 * time.Millisecond, 400 * time.Millisecond
	srv := startServerWith(t, cfg, func(s *sip.Server) { sip.SetTrunkBackoff(s, lo, hi) }, sip.HandlerFunc(noCalls))

	a := recv(t, ft.regs, "the first REGISTER")
	b := recv(t, ft.regs, "the first retry")
	c := recv(t, ft.regs, "the second retry")
	// Delays are jittered down by up to a half: [lo/2, lo], then [hi/2, hi] (2·lo capped at hi).
	if d := b.at.Sub(a.at); d < lo/2 || d > lo+300*time.Millisecond {
		t.Errorf("first retry after %v, want %v..%v", d, lo/2, lo)
	}
	if d := c.at.Sub(b.at); d < hi/2 || d > hi+300*time.Millisecond {
		t.Errorf("second retry after %v, want %v..%v", d, hi/2, hi)
	}
	ts := trunkState(srv.Server, "carrier")
	if ts.Registered || ts.Up || !strings.Contains(ts.LastError, "403") {
		t.Errorf("state while refused: %+v, want not registered, down, last_error naming 403", ts)
	}

	ft.forbid.Store(false) // the carrier is fixed: the next retry registers
	for seen := recv(t, ft.regs, "a REGISTER"); seen.code != 200; seen = recv(t, ft.regs, "an accepted REGISTER") {
	}
	waitFor(t, "the trunk registered", func() bool { return trunkState(srv.Server, "carrier").Registered })
	if ts := trunkState(srv.Server, "carrier"); !ts.Up || ts.LastError != "" {
		t.Errorf("state after recovering: %+v", ts)
	}
}

func TestTrunk_QualifyMarksDownThenUp(t *testing.T) {
	t.Parallel()
	ft := startFakeTrunk(t, 60) // drops OPTIONS until told
	cfg := sip.Config{UserAgent: "Hotline-Test", Trunks: []sip.Trunk{{Name: "carrier", URI: "sip:" + ft.addr(), Qualify: time.Second}}}
	srv := startServerWith(t, cfg, func(s *sip.Server) { sip.SetTrunkQualify(s, 0, 150*time.Millisecond) }, sip.HandlerFunc(noCalls))

	if !srv.TrunkUp("carrier") {
		t.Errorf("a trunk not yet probed is down")
	}
	waitFor(t, "the trunk down", func() bool { return !srv.TrunkUp("carrier") })
	if n := ft.optionsN.Load(); n < 2 {
		t.Errorf("down after %d OPTIONS, want 2 unanswered", n)
	}
	if ts := trunkState(srv.Server, "carrier"); ts.Up || !ts.Qualify || !strings.Contains(ts.LastError, "no answer") || ts.LastChecked.IsZero() {
		t.Errorf("state while down: %+v", ts)
	}
	ft.options.Store(true)
	waitFor(t, "the trunk up", func() bool { return srv.TrunkUp("carrier") })
	if ts := trunkState(srv.Server, "carrier"); ts.LastError != "" {
		t.Errorf("state after an answer: %+v", ts)
	}
	if srv.TrunkUp("nope") {
		t.Errorf("TrunkUp of an unknown trunk")
	}
}

func TestDial_FailsOverFromDownTrunk(t *testing.T) {
	t.Parallel()
	dead := startFakeTrunk(t, 60) // answers nothing
	backup := startCarrier(t, "hotline", "trunkpw")
	cfg := sip.Config{UserAgent: "Hotline-Test", Trunks: []sip.Trunk{
		{Name: "primary", URI: "sip:" + dead.addr(), Qualify: time.Second, Failover: []string{"backup"}},
		{Name: "backup", URI: "sip:" + backup.addr(), Username: "hotline", Password: "trunkpw"},
	}}
	srv := startServerWith(t, cfg, func(s *sip.Server) { sip.SetTrunkQualify(s, 0, 100*time.Millisecond) }, sip.HandlerFunc(noCalls))
	waitFor(t, "primary down", func() bool { return !srv.TrunkUp("primary") })

	ctx := testCtx(t)
	call, err := srv.Dial(ctx, "15551234", []byte(offerSDP), sip.DialOptions{Trunk: "primary"})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if n := dead.invites.Load(); n != 0 {
		t.Errorf("the down trunk got %d INVITEs", n)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	recv(t, backup.byes, "BYE at the backup trunk")
}

func TestDial_FailoverByFinalResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		code     int
		failover bool
		rang     bool
	}{
		{"503 goes to the next trunk", 503, true, false},
		{"408 goes to the next trunk", 408, true, false},
		{"486 busy stops", 486, false, false},
		{"603 decline stops", 603, false, false},
		{"408 after ringing stops: the callee was rung once", 408, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			first := startFakeTrunk(t, 60)
			first.inviteCode.Store(int32(tc.code))
			first.ringFirst.Store(tc.rang)
			backup := startCarrier(t, "hotline", "trunkpw")
			cfg := sip.Config{UserAgent: "Hotline-Test", Trunks: []sip.Trunk{
				{Name: "primary", URI: "sip:" + first.addr(), Failover: []string{"backup"}},
				{Name: "backup", URI: "sip:" + backup.addr(), Username: "hotline", Password: "trunkpw"},
			}}
			srv := startServerWith(t, cfg, nil, sip.HandlerFunc(noCalls))
			ctx := testCtx(t)
			call, err := srv.Dial(ctx, "15551234", []byte(offerSDP), sip.DialOptions{Trunk: "primary"})
			if first.invites.Load() == 0 {
				t.Errorf("the first trunk was not tried")
			}
			if !tc.failover {
				var re *sip.RejectError
				if !errors.As(err, &re) || re.Code != tc.code {
					t.Fatalf("Dial = %v, want RejectError %d", err, tc.code)
				}
				backup.mu.Lock()
				defer backup.mu.Unlock()
				if backup.invites != 0 {
					t.Errorf("the backup trunk got %d INVITEs after a %d", backup.invites, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if err := call.Hangup(ctx); err != nil {
				t.Fatalf("Hangup: %v", err)
			}
			recv(t, backup.byes, "BYE at the backup trunk")
		})
	}
}

func TestTrunk_ConfigValidation(t *testing.T) {
	t.Parallel()
	base := func(f func(*sip.Trunk)) sip.Config {
		tr := sip.Trunk{Name: "a", URI: "sip:192.0.2.1"}
		f(&tr)
		return sip.Config{Trunks: []sip.Trunk{tr, {Name: "b", URI: "sip:192.0.2.2"}}}
	}
	tests := []struct {
		name    string
		cfg     sip.Config
		wantErr string
	}{
		{"all set", base(func(t *sip.Trunk) {
			t.Register, t.Username, t.RegisterExpires, t.Qualify, t.Failover = true, "u", 10*time.Minute, 30*time.Second, []string{"b"}
		}), ""},
		{"short register_expires", base(func(t *sip.Trunk) { t.RegisterExpires = 10 * time.Second }), "register_expires"},
		{"short qualify", base(func(t *sip.Trunk) { t.Qualify = 100 * time.Millisecond }), "qualify"},
		{"unknown failover", base(func(t *sip.Trunk) { t.Failover = []string{"c"} }), "no such trunk"},
		{"failover to itself", base(func(t *sip.Trunk) { t.Failover = []string{"a"} }), "listed twice"},
		{"failover twice", base(func(t *sip.Trunk) { t.Failover = []string{"b", "b"} }), "listed twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("Validate = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
