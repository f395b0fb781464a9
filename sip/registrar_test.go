package sip_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/hotline-ivr/hotline/sip"
	"github.com/hotline-ivr/hotline/sip/siptest"
)

const (
	testRealm    = "test"
	testNonceTTL = time.Minute
)

var testAccounts = []sip.Account{{User: "1001", Password: "s3cret"}, {User: "1002", Password: "other"}}

// clock is a settable time source for the registrar (sip.SetClock).
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// regEvent is one OnRegister report.
type regEvent struct {
	user     string
	contacts []sip.Contact
}

// registrarSrv is a server with the test accounts, a settable clock and its
// OnRegister reports.
type registrarSrv struct {
	*server
	clock  *clock
	events chan regEvent
}

func noCalls(context.Context, *sip.Leg) error { return errors.New("no call expected") }

func registrarConfig() sip.Config {
	return sip.Config{
		UserAgent: "Hotline-Test",
		Registrar: sip.RegistrarConfig{Realm: testRealm, Accounts: testAccounts, NonceTTL: testNonceTTL},
	}
}

func startRegistrar(t *testing.T, cfg sip.Config) *registrarSrv {
	t.Helper()
	r := &registrarSrv{clock: newClock(), events: make(chan regEvent, 16)}
	r.server = startServerWith(t, cfg, func(s *sip.Server) {
		sip.SetClock(s, r.clock.Now)
		s.OnRegister(func(user string, contacts []sip.Contact) {
			select {
			case r.events <- regEvent{user, contacts}:
			default:
				t.Errorf("OnRegister(%s) dropped: channel full", user)
			}
		})
	}, sip.HandlerFunc(noCalls))
	return r
}

func (r *registrarSrv) event(t *testing.T) regEvent {
	t.Helper()
	return recv(t, r.events, "OnRegister")
}

func (r *registrarSrv) noEvent(t *testing.T) {
	t.Helper()
	select {
	case ev := <-r.events:
		t.Errorf("unexpected OnRegister(%s, %v)", ev.user, ev.contacts)
	default:
	}
}

// reg is one REGISTER from a rawUA; empty fields take defaults.
type reg struct {
	user     string   // AOR user (To, From); default "1001"
	callID   string   // default: the rawUA's
	cseq     int      // default 1
	contacts []string // Contact values; default <sip:user@local>
	expires  string   // Expires header; "" omits it
	auth     string   // Authorization value
}

func (u *rawUA) register(r reg) *sipmsg.Response {
	u.t.Helper()
	u.sendRegister(&r)
	return u.final(uint32(r.cseq))
}

// sendRegister sends r, its defaults filled in, without waiting.
func (u *rawUA) sendRegister(r *reg) {
	u.t.Helper()
	if r.user == "" {
		r.user = "1001"
	}
	if r.callID == "" {
		r.callID = "reg-" + u.local
	}
	if r.cseq == 0 {
		r.cseq = 1
	}
	if r.contacts == nil {
		r.contacts = []string{fmt.Sprintf("<sip:%s@%s>", r.user, u.local)}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER sip:%s SIP/2.0\r\n", u.server)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK%x;rport\r\n", u.local, rand.Uint64())
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%x\r\n", r.user, u.server, rand.Uint64())
	fmt.Fprintf(&b, "To: <sip:%s@%s>\r\n", r.user, u.server)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", r.callID)
	fmt.Fprintf(&b, "CSeq: %d REGISTER\r\n", r.cseq)
	for _, c := range r.contacts {
		fmt.Fprintf(&b, "Contact: %s\r\n", c)
	}
	if r.expires != "" {
		fmt.Fprintf(&b, "Expires: %s\r\n", r.expires)
	}
	if r.auth != "" {
		fmt.Fprintf(&b, "Authorization: %s\r\n", r.auth)
	}
	b.WriteString("User-Agent: raw-phone\r\nContent-Length: 0\r\n\r\n")
	if _, err := u.conn.Write([]byte(b.String())); err != nil {
		u.t.Fatalf("write REGISTER: %v", err)
	}
}

// answer computes an Authorization value for a 401's challenge.
func (u *rawUA) answer(res *sipmsg.Response, user, password string, nc int) string {
	u.t.Helper()
	chal, err := digest.ParseChallenge(header(res, "WWW-Authenticate"))
	if err != nil {
		u.t.Fatalf("challenge %q: %v", header(res, "WWW-Authenticate"), err)
	}
	cred, err := digest.Digest(chal, digest.Options{
		Method: "REGISTER", URI: "sip:" + u.server, Username: user, Password: password, Count: nc,
	})
	if err != nil {
		u.t.Fatal(err)
	}
	return cred.String()
}

// registerAuth sends r, answers the 401 with password, and returns the
// final response to the authenticated REGISTER (CSeq r.cseq+1).
func (u *rawUA) registerAuth(r reg, password string) *sipmsg.Response {
	u.t.Helper()
	if r.cseq == 0 {
		r.cseq = 1
	}
	res := u.register(r)
	if res.StatusCode != 401 {
		u.t.Fatalf("REGISTER without credentials: got %d, want 401", res.StatusCode)
	}
	user := r.user
	if user == "" {
		user = "1001"
	}
	r.auth = u.answer(res, user, password, 1)
	r.cseq++
	return u.register(r)
}

func challengeOf(t *testing.T, res *sipmsg.Response) *digest.Challenge {
	t.Helper()
	if res.StatusCode != 401 {
		t.Fatalf("got %d %s, want 401", res.StatusCode, res.Reason)
	}
	chal, err := digest.ParseChallenge(header(res, "WWW-Authenticate"))
	if err != nil {
		t.Fatalf("WWW-Authenticate %q: %v", header(res, "WWW-Authenticate"), err)
	}
	return chal
}

func TestRegistrar_DigestAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// run drives the exchange and returns the final response to check.
		run       func(t *testing.T, u *rawUA, r *registrarSrv) *sipmsg.Response
		want      int
		wantStale bool // a 401 with stale=true
	}{
		{"no credentials", func(t *testing.T, u *rawUA, r *registrarSrv) *sipmsg.Response {
			res := u.register(reg{})
			chal := challengeOf(t, res)
			if chal.Realm != testRealm || chal.Nonce == "" || !chal.SupportsQOP("auth") ||
				!strings.EqualFold(chal.Algorithm, "MD5") {
				t.Errorf("challenge = %+v", chal)
			}
			return res
		}, 401, false},
		{"correct password", func(t *testing.T, u *rawUA, r *registrarSrv) *sipmsg.Response {
			return u.registerAuth(reg{}, "s3cret")
		}, 200, false},
		{"wrong password", func(t *testing.T, u *rawUA, r *registrarSrv) *sipmsg.Response {
			return u.registerAuth(reg{}, "guess")
		}, 403, false},
		{"unknown user", func(t *testing.T, u *rawUA, r *registrarSrv) *sipmsg.Response {
			return u.registerAuth(reg{user: "9999"}, "s3cret")
		}, 403, false},
		{"another user's address of record", func(t *testing.T, u *rawUA, r *registrarSrv) *sipmsg.Response {
			res := u.register(reg{user: "1002"})
			return u.register(reg{user: "1002", cseq: 2, auth: u.answer(res, "1001", "s3cret", 1)})
		}, 403, false},
		{"other realm", func(t *testing.T, u *rawUA, r *registrarSrv) *sipmsg.Response {
			auth := `Digest username="1001", realm="elsewhere", nonce="x", uri="sip:h", response="00"`
			return u.register(reg{auth: auth})
		}, 401, false},
		{"expired nonce", func(t *testing.T, u *rawUA, r *registrarSrv) *sipmsg.Response {
			res := u.register(reg{})
			r.clock.advance(testNonceTTL + time.Second)
			res = u.register(reg{cseq: 2, auth: u.answer(res, "1001", "s3cret", 1)})
			if chal := challengeOf(t, res); chal.Stale {
				// The client retries with the new nonce, without asking the user.
				if again := u.register(reg{cseq: 3, auth: u.answer(res, "1001", "s3cret", 1)}); again.StatusCode != 200 {
					t.Errorf("retry with the fresh nonce: got %d, want 200", again.StatusCode)
				}
			}
			return res
		}, 401, true},
		{"expired nonce wrong password", func(t *testing.T, u *rawUA, r *registrarSrv) *sipmsg.Response {
			res := u.register(reg{})
			r.clock.advance(testNonceTTL + time.Second)
			return u.register(reg{cseq: 2, auth: u.answer(res, "1001", "guess", 1)})
		}, 403, false},
		{"replayed nonce count", func(t *testing.T, u *rawUA, r *registrarSrv) *sipmsg.Response {
			chal := u.register(reg{})
			if res := u.register(reg{cseq: 2, auth: u.answer(chal, "1001", "s3cret", 1)}); res.StatusCode != 200 {
				t.Fatalf("first use: got %d", res.StatusCode)
			}
			// The next count on the same nonce is fine (pre-emptive auth).
			if res := u.register(reg{cseq: 3, auth: u.answer(chal, "1001", "s3cret", 2)}); res.StatusCode != 200 {
				t.Fatalf("nc=2: got %d", res.StatusCode)
			}
			return u.register(reg{cseq: 4, auth: u.answer(chal, "1001", "s3cret", 2)})
		}, 401, true},
		{"nonce issued to another address", func(t *testing.T, u *rawUA, r *registrarSrv) *sipmsg.Response {
			res := newRawUAAt(t, r.udp, "127.0.0.2").register(reg{})
			res = u.register(reg{cseq: 2, auth: u.answer(res, "1001", "s3cret", 1)})
			if chal := challengeOf(t, res); chal.Stale {
				if again := u.register(reg{cseq: 3, auth: u.answer(res, "1001", "s3cret", 1)}); again.StatusCode != 200 {
					t.Errorf("retry with our own nonce: got %d, want 200", again.StatusCode)
				}
			}
			return res
		}, 401, true},
		{"nonce issued to another address wrong password", func(t *testing.T, u *rawUA, r *registrarSrv) *sipmsg.Response {
			// Not checked, so not counted against this address (lock-out).
			res := newRawUAAt(t, r.udp, "127.0.0.2").register(reg{})
			return u.register(reg{cseq: 2, auth: u.answer(res, "1001", "guess", 1)})
		}, 401, true},
		{"no qop (RFC 2069)", func(t *testing.T, u *rawUA, r *registrarSrv) *sipmsg.Response {
			res := u.register(reg{})
			return u.register(reg{cseq: 2, auth: answerNoQOP(t, res, u.server, "1001", "s3cret")})
		}, 403, false},
		{"malformed credentials", func(t *testing.T, u *rawUA, r *registrarSrv) *sipmsg.Response {
			return u.register(reg{auth: `Digest username="1001", realm="test", qop=auth, nonce="x", uri="sip:h", response="00"`})
		}, 400, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startRegistrar(t, registrarConfig())
			u := newRawUA(t, r.udp)
			res := tc.run(t, u, r)
			if res.StatusCode != tc.want {
				t.Fatalf("got %d %s, want %d", res.StatusCode, res.Reason, tc.want)
			}
			if res.StatusCode == 401 {
				if chal := challengeOf(t, res); chal.Stale != tc.wantStale {
					t.Errorf("stale = %v, want %v", chal.Stale, tc.wantStale)
				}
			}
		})
	}
}

// newRawUAAt is newRawUA with its socket bound to ip: any 127.0.0.0/8
// address reaches a server on 127.0.0.1, so tests get other sources.
func newRawUAAt(t *testing.T, server, ip string) *rawUA {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)}, raddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawUA{t: t, conn: conn, local: conn.LocalAddr().String(), server: server, parser: sipmsg.NewParser()}
}

// answerNoQOP answers a 401 the RFC 2069 way: no qop, cnonce or nc.
func answerNoQOP(t *testing.T, res *sipmsg.Response, server, user, password string) string {
	t.Helper()
	chal := challengeOf(t, res)
	chal.QOP = nil
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:" + server, Username: user, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	if s := cred.String(); strings.Contains(s, "qop") || strings.Contains(s, "nc=") {
		t.Fatalf("RFC 2069 credentials carry qop or nc: %s", s)
	}
	return cred.String()
}

// TestRegistrar_ReplayedHeaderCannotHijack replays issue #10 finding 3: a
// phone's Authorization header, captured and sent again byte for byte
// from another socket with the attacker's Contact and Expires: 3600, must
// not bind the attacker.
func TestRegistrar_ReplayedHeaderCannotHijack(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		attackerIP string
		noQOP      bool // the phone answers the RFC 2069 way
	}{
		{"another port", "127.0.0.1", false},
		{"another address", "127.0.0.2", false},
		{"no qop another port", "127.0.0.1", true},
		{"no qop another address", "127.0.0.2", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startRegistrar(t, registrarConfig())
			phone := newRawUA(t, r.udp)
			chal := phone.register(reg{})
			auth := phone.answer(chal, "1001", "s3cret", 1)
			var want []sip.Contact
			if tc.noQOP {
				auth = answerNoQOP(t, chal, phone.server, "1001", "s3cret")
				if res := phone.register(reg{cseq: 2, auth: auth}); res.StatusCode != 403 {
					t.Errorf("phone without qop: got %d, want 403", res.StatusCode)
				}
			} else {
				if res := phone.register(reg{cseq: 2, auth: auth}); res.StatusCode != 200 {
					t.Fatalf("phone: got %d, want 200", res.StatusCode)
				}
				r.event(t)
				want = r.Contacts("1001")
				if len(want) != 1 || want[0].URI != "sip:1001@"+phone.local {
					t.Fatalf("Contacts = %+v, want the phone", want)
				}
			}

			attacker := newRawUAAt(t, r.udp, tc.attackerIP)
			res := attacker.register(reg{
				callID: "hijack", cseq: 2, expires: "3600", auth: auth,
				contacts: []string{"<sip:1001@" + attacker.local + ">"},
			})
			if res.StatusCode != 401 && res.StatusCode != 403 {
				t.Errorf("replayed header: got %d %s, want 401 or 403", res.StatusCode, res.Reason)
			}
			if got := r.Contacts("1001"); !slices.Equal(got, want) {
				t.Errorf("Contacts after the replay = %+v, want %+v", got, want)
			}
			r.noEvent(t)
		})
	}
}

func TestRegistrar_Bindings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, u *rawUA, r *registrarSrv)
	}{
		{"default expires", func(t *testing.T, u *rawUA, r *registrarSrv) {
			res := u.registerAuth(reg{}, "s3cret")
			if res.StatusCode != 200 || !strings.Contains(header(res, "Contact"), "expires=3600") {
				t.Fatalf("got %d Contact %q, want 200 with expires=3600", res.StatusCode, header(res, "Contact"))
			}
			ev := r.event(t)
			if ev.user != "1001" || len(ev.contacts) != 1 || ev.contacts[0].URI != "sip:1001@"+u.local {
				t.Errorf("OnRegister = %+v", ev)
			}
			cs := r.Contacts("1001")
			if len(cs) != 1 || cs[0].Source != u.local || cs[0].Transport != "udp" ||
				cs[0].UserAgent != "raw-phone" || !cs[0].Expires.Equal(r.clock.Now().Add(time.Hour)) {
				t.Errorf("Contacts = %+v", cs)
			}
		}},
		{"refresh is not reported", func(t *testing.T, u *rawUA, r *registrarSrv) {
			if res := u.registerAuth(reg{}, "s3cret"); res.StatusCode != 200 {
				t.Fatalf("got %d", res.StatusCode)
			}
			r.event(t)
			if res := u.registerAuth(reg{cseq: 3, expires: "600"}, "s3cret"); res.StatusCode != 200 {
				t.Fatalf("refresh: got %d", res.StatusCode)
			}
			r.noEvent(t)
			if cs := r.Contacts("1001"); len(cs) != 1 || !cs[0].Expires.Equal(r.clock.Now().Add(10*time.Minute)) {
				t.Errorf("Contacts = %+v", cs)
			}
		}},
		{"interval too brief", func(t *testing.T, u *rawUA, r *registrarSrv) {
			res := u.registerAuth(reg{expires: "30"}, "s3cret")
			if res.StatusCode != 423 || header(res, "Min-Expires") != "60" {
				t.Fatalf("got %d Min-Expires %q, want 423 and 60", res.StatusCode, header(res, "Min-Expires"))
			}
			res = u.registerAuth(reg{cseq: 3, contacts: []string{"<sip:1001@" + u.local + ">;expires=10"}}, "s3cret")
			if res.StatusCode != 423 {
				t.Fatalf("contact expires=10: got %d, want 423", res.StatusCode)
			}
			if cs := r.Contacts("1001"); cs != nil {
				t.Errorf("Contacts = %+v, want none", cs)
			}
		}},
		{"capped at max", func(t *testing.T, u *rawUA, r *registrarSrv) {
			res := u.registerAuth(reg{expires: "99999"}, "s3cret")
			if res.StatusCode != 200 || !strings.Contains(header(res, "Contact"), "expires=7200") {
				t.Fatalf("got %d Contact %q, want expires=7200", res.StatusCode, header(res, "Contact"))
			}
		}},
		{"unregister one contact", func(t *testing.T, u *rawUA, r *registrarSrv) {
			a, b := "<sip:1001@"+u.local+">", "<sip:1001@127.0.0.1:1;transport=tcp>"
			if res := u.registerAuth(reg{contacts: []string{a, b}}, "s3cret"); res.StatusCode != 200 {
				t.Fatalf("got %d", res.StatusCode)
			}
			if ev := r.event(t); len(ev.contacts) != 2 {
				t.Fatalf("OnRegister = %+v, want 2 contacts", ev)
			}
			if res := u.registerAuth(reg{cseq: 3, contacts: []string{b}, expires: "0"}, "s3cret"); res.StatusCode != 200 {
				t.Fatalf("unregister: got %d", res.StatusCode)
			}
			if ev := r.event(t); len(ev.contacts) != 1 || ev.contacts[0].URI != "sip:1001@"+u.local {
				t.Errorf("OnRegister = %+v, want the UDP contact left", ev)
			}
		}},
		{"wildcard removes all", func(t *testing.T, u *rawUA, r *registrarSrv) {
			a, b := "<sip:1001@"+u.local+">", "<sip:1001@127.0.0.1:1>"
			if res := u.registerAuth(reg{contacts: []string{a, b}}, "s3cret"); res.StatusCode != 200 {
				t.Fatalf("got %d", res.StatusCode)
			}
			r.event(t)
			if res := u.registerAuth(reg{cseq: 3, contacts: []string{"*"}}, "s3cret"); res.StatusCode != 400 {
				t.Errorf("* without Expires: 0: got %d, want 400", res.StatusCode)
			}
			res := u.registerAuth(reg{cseq: 5, contacts: []string{"*"}, expires: "0"}, "s3cret")
			if res.StatusCode != 200 || header(res, "Contact") != "" {
				t.Fatalf("* with Expires: 0: got %d Contact %q", res.StatusCode, header(res, "Contact"))
			}
			if ev := r.event(t); ev.user != "1001" || ev.contacts != nil {
				t.Errorf("OnRegister = %+v, want 1001 gone", ev)
			}
			if cs := r.Contacts("1001"); cs != nil {
				t.Errorf("Contacts = %+v, want none", cs)
			}
		}},
		{"out of order", func(t *testing.T, u *rawUA, r *registrarSrv) {
			if res := u.registerAuth(reg{cseq: 10}, "s3cret"); res.StatusCode != 200 {
				t.Fatalf("got %d", res.StatusCode)
			}
			if res := u.registerAuth(reg{cseq: 5}, "s3cret"); res.StatusCode != 500 {
				t.Errorf("lower CSeq, same Call-ID: got %d, want 500", res.StatusCode)
			}
		}},
		{"expiry is reported", func(t *testing.T, u *rawUA, r *registrarSrv) {
			if res := u.registerAuth(reg{expires: "60"}, "s3cret"); res.StatusCode != 200 {
				t.Fatalf("got %d", res.StatusCode)
			}
			r.event(t)
			r.clock.advance(59 * time.Second)
			sip.ExpireBindings(r.Server)
			r.noEvent(t)
			r.clock.advance(time.Second)
			if cs := r.Contacts("1001"); cs != nil {
				t.Errorf("Contacts after expiry = %+v", cs)
			}
			sip.ExpireBindings(r.Server)
			if ev := r.event(t); ev.user != "1001" || ev.contacts != nil {
				t.Errorf("OnRegister = %+v, want 1001 gone", ev)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startRegistrar(t, registrarConfig())
			tc.run(t, newRawUA(t, r.udp), r)
		})
	}
}

func TestRegistrar_Client(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			c := newClient(t)
			r := startRegistrar(t, registrarConfig())
			ctx := testCtx(t)
			registrar := "sip:" + r.udp
			if transport == "tcp" {
				registrar = "sip:" + r.tcp + ";transport=tcp"
			}
			o := siptest.RegisterOptions{User: "1001", Password: "s3cret", Expires: 10 * time.Minute}
			got, err := c.Register(ctx, registrar, o)
			if err != nil || got != 10*time.Minute {
				t.Fatalf("Register = %v, %v; want 10m", got, err)
			}
			ev := r.event(t)
			if ev.user != "1001" || len(ev.contacts) != 1 || ev.contacts[0].Transport != transport {
				t.Fatalf("OnRegister = %+v", ev)
			}
			if cs := r.Contacts("1001"); len(cs) != 1 || cs[0].URI != ev.contacts[0].URI {
				t.Fatalf("Contacts = %+v", cs)
			}

			bad := o
			bad.Password = "guess"
			var re *sip.RejectError
			if _, err := c.Register(ctx, registrar, bad); !errors.As(err, &re) || re.Code != 403 {
				t.Errorf("wrong password: %v, want RejectError 403", err)
			}
			if err := c.Unregister(ctx, registrar, o); err != nil {
				t.Fatalf("Unregister: %v", err)
			}
			if ev := r.event(t); ev.user != "1001" || ev.contacts != nil {
				t.Errorf("OnRegister = %+v, want 1001 gone", ev)
			}
			if cs := r.Contacts("1001"); cs != nil {
				t.Errorf("Contacts = %+v, want none", cs)
			}
		})
	}
}

func TestRegistrar_SetAccounts(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	r := startRegistrar(t, registrarConfig())
	ctx := testCtx(t)
	o := siptest.RegisterOptions{User: "1001", Password: "s3cret"}
	if _, err := c.Register(ctx, "sip:"+r.udp, o); err != nil {
		t.Fatalf("Register: %v", err)
	}
	r.event(t)
	if err := r.SetAccounts([]sip.Account{{User: "1002", Password: "x"}}); err != nil {
		t.Fatalf("SetAccounts: %v", err)
	}
	if ev := r.event(t); ev.user != "1001" || ev.contacts != nil {
		t.Errorf("OnRegister = %+v, want 1001 gone", ev)
	}
	var re *sip.RejectError
	if _, err := c.Register(ctx, "sip:"+r.udp, o); !errors.As(err, &re) || re.Code != 403 {
		t.Errorf("removed account: %v, want RejectError 403", err)
	}
	if err := r.SetAccounts([]sip.Account{{User: "", Password: "x"}}); err == nil {
		t.Error("SetAccounts accepted an empty user")
	}
	// No accounts: the registrar is off.
	if err := r.SetAccounts(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, "sip:"+r.udp, o); !errors.As(err, &re) || re.Code != 405 {
		t.Errorf("registrar off: %v, want RejectError 405", err)
	}
}

// guess sends n REGISTERs for user with wrong passwords, all answering
// chal with rising nonce-counts from nc, in bursts of 50 sent back to
// back before any answer is read (the server checks them concurrently),
// and checks each gets 403. It returns the next nonce-count.
func (u *rawUA) guess(chal *sipmsg.Response, user string, n, nc int) int {
	u.t.Helper()
	const burst = 50
	for n > 0 {
		k := min(n, burst)
		pending := make(map[uint32]bool, k)
		for range k {
			r := reg{user: user, cseq: 100 + nc, auth: u.answer(chal, user, fmt.Sprintf("guess%d", nc), nc)}
			u.sendRegister(&r)
			pending[uint32(r.cseq)] = true
			n, nc = n-1, nc+1
		}
		deadline := time.Now().Add(wait)
		for len(pending) > 0 && time.Now().Before(deadline) {
			res, ok := u.read(time.Until(deadline)).(*sipmsg.Response)
			if !ok || res.IsProvisional() || res.CSeq() == nil || !pending[res.CSeq().SeqNo] {
				continue
			}
			delete(pending, res.CSeq().SeqNo)
			if res.StatusCode != 403 {
				u.t.Fatalf("guess CSeq %d: got %d %s, want 403", res.CSeq().SeqNo, res.StatusCode, res.Reason)
			}
		}
		if len(pending) > 0 {
			u.t.Fatalf("%d guesses unanswered", len(pending))
		}
	}
	return nc
}

// TestRegistrar_BruteForceLockout replays issue #10 finding 4: 300 wrong
// passwords in a burst, then the right one. The right one is refused
// while the lock-out lasts and accepted once it has passed.
func TestRegistrar_BruteForceLockout(t *testing.T) {
	t.Parallel()
	r := startRegistrar(t, registrarConfig())
	u := newRawUA(t, r.udp)
	chal := u.register(reg{})
	nc := u.guess(chal, "1001", 300, 1)
	want := sip.AuthStats{Failures: 5, LockedOut: 295, Lockouts: 3} // source, user, user at source
	if got := r.AuthStats(); got != want {
		t.Errorf("AuthStats after 300 guesses = %+v, want %+v", got, want)
	}

	r.clock.advance(30*time.Second - time.Millisecond)
	if res := u.register(reg{cseq: 1000, auth: u.answer(chal, "1001", "s3cret", nc)}); res.StatusCode != 403 {
		t.Fatalf("right password during the lock-out: got %d %s, want 403", res.StatusCode, res.Reason)
	}
	if cs := r.Contacts("1001"); cs != nil {
		t.Fatalf("Contacts = %+v, want none", cs)
	}
	r.clock.advance(time.Millisecond)
	if res := u.register(reg{cseq: 1001, auth: u.answer(chal, "1001", "s3cret", nc+1)}); res.StatusCode != 200 {
		t.Fatalf("right password after the lock-out: got %d %s, want 200", res.StatusCode, res.Reason)
	}
	if cs := r.Contacts("1001"); len(cs) != 1 || cs[0].URI != "sip:1001@"+u.local {
		t.Errorf("Contacts = %+v, want the phone", cs)
	}
	want.LockedOut, want.Successes = 296, 1
	if got := r.AuthStats(); got != want {
		t.Errorf("AuthStats = %+v, want %+v", got, want)
	}
}

// TestRegistrar_LockoutSparesTheAgent checks the lock-out's trade-off: a
// guesser elsewhere cannot lock an agent out of the address the agent
// authenticated from, but locks out the user and the guesser's own
// address everywhere else.
func TestRegistrar_LockoutSparesTheAgent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		guesserIP string
		agent     int // the agent's next REGISTER during the lock-out
	}{
		{"guesser elsewhere", "127.0.0.2", 200},
		// Indistinguishable from the agent: the pair lock applies.
		{"guesser at the agent's address", "127.0.0.1", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startRegistrar(t, registrarConfig())
			agent := newRawUA(t, r.udp) // 127.0.0.1
			if res := agent.registerAuth(reg{}, "s3cret"); res.StatusCode != 200 {
				t.Fatalf("agent: got %d", res.StatusCode)
			}
			guesser := newRawUAAt(t, r.udp, tc.guesserIP)
			guesser.guess(guesser.register(reg{}), "1001", 300, 1)

			if res := agent.registerAuth(reg{cseq: 3}, "s3cret"); res.StatusCode != tc.agent {
				t.Errorf("agent refresh: got %d, want %d", res.StatusCode, tc.agent)
			}
			newPhone := newRawUAAt(t, r.udp, "127.0.0.3")
			if res := newPhone.registerAuth(reg{}, "s3cret"); res.StatusCode != 403 {
				t.Errorf("1001 from a new address: got %d, want 403 (user locked out)", res.StatusCode)
			}
			if tc.guesserIP != "127.0.0.1" {
				if res := guesser.registerAuth(reg{user: "1002", cseq: 1000}, "other"); res.StatusCode != 403 {
					t.Errorf("1002 from the guesser: got %d, want 403 (source locked out)", res.StatusCode)
				}
			}
			r.clock.advance(30 * time.Second)
			if res := newPhone.registerAuth(reg{cseq: 3}, "s3cret"); res.StatusCode != 200 {
				t.Errorf("1001 from a new address after the lock-out: got %d, want 200", res.StatusCode)
			}
		})
	}
}

// shape is a response as an attacker compares them: status, reason, the
// header names in order, and the values of those not echoed from the
// request.
func shape(res *sipmsg.Response) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s\n", res.StatusCode, res.Reason)
	for _, h := range res.Headers() {
		switch strings.ToLower(h.Name()) {
		case "via", "from", "to", "call-id", "cseq":
			fmt.Fprintf(&b, "%s\n", h.Name())
		default:
			fmt.Fprintf(&b, "%s: %s\n", h.Name(), h.Value())
		}
	}
	fmt.Fprintf(&b, "body %q", res.Body())
	return b.String()
}

// TestRegistrar_SameAnswerWhateverTheReason checks that no refusal can be
// told from another (no user enumeration, no lock-out or password oracle).
func TestRegistrar_SameAnswerWhateverTheReason(t *testing.T) {
	t.Parallel()
	r := startRegistrar(t, registrarConfig())
	u := newRawUA(t, r.udp)
	chal := u.register(reg{})
	got := map[string]*sipmsg.Response{}
	other := newRawUAAt(t, r.udp, "127.0.0.2")
	got["unknown user"] = other.register(reg{user: "9999", cseq: 2, auth: other.answer(other.register(reg{}), "9999", "s3cret", 1)})
	got["wrong password"] = u.register(reg{cseq: 2, auth: u.answer(chal, "1001", "guess", 1)})
	got["another user's address of record"] = u.register(reg{user: "1002", cseq: 3, auth: u.answer(chal, "1001", "s3cret", 2)})
	got["no qop"] = u.register(reg{cseq: 4, auth: answerNoQOP(t, chal, u.server, "1001", "s3cret")})
	u.guess(chal, "1001", 3, 3) // five failures: the source, 1001 and 1001 there locked out
	got["locked out, right password"] = u.register(reg{cseq: 10, auth: u.answer(chal, "1001", "s3cret", 6)})
	got["locked out, unknown user"] = u.register(reg{user: "9999", cseq: 11, auth: u.answer(chal, "9999", "s3cret", 7)})
	if st := r.AuthStats(); st.Lockouts != 3 || st.LockedOut != 2 || st.NoQOP != 1 {
		t.Errorf("AuthStats = %+v, want 3 lock-outs, 2 attempts refused unchecked, 1 without qop", st)
	}

	want := shape(got["wrong password"])
	if !strings.HasPrefix(want, "403 Forbidden\n") || strings.Contains(want, "WWW-Authenticate") {
		t.Fatalf("wrong password answered:\n%s", want)
	}
	for reason, res := range got {
		if s := shape(res); s != want {
			t.Errorf("%s answered:\n%s\nwant, as for a wrong password:\n%s", reason, s, want)
		}
	}
	if cs := r.Contacts("1001"); cs != nil {
		t.Errorf("Contacts = %+v, want none", cs)
	}
}
