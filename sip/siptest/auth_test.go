package siptest

import (
	"maps"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// A client library (icholy/digest, as sipgo uses) answers the challenge.
func answer(t *testing.T, challenge, user, password string, nc int) string {
	t.Helper()
	c, err := digest.ParseChallenge(challenge)
	if err != nil {
		t.Fatalf("ParseChallenge(%q): %v", challenge, err)
	}
	cred, err := digest.Digest(c, digest.Options{Method: "INVITE", URI: "sip:carol@127.0.0.1",
		Username: user, Password: password, Cnonce: "0a4f113b", Count: nc})
	if err != nil {
		t.Fatal(err)
	}
	return cred.String()
}

func invite(auth ...string) *sipmsg.Request {
	req := sipmsg.NewRequest(sipmsg.INVITE, sipmsg.Uri{Scheme: "sip", User: "carol", Host: "127.0.0.1"})
	for _, a := range auth {
		req.AppendHeader(sipmsg.NewHeader("Proxy-Authorization", a))
	}
	return req
}

func newCheck(t *testing.T, now *time.Time) *digestCheck {
	t.Helper()
	d, err := newDigestCheck(InviteAuth{Realm: "carrier", User: "hotline", Password: "trunkpw"})
	if err != nil {
		t.Fatal(err)
	}
	d.now = func() time.Time { return *now }
	return d
}

func TestDigestCheck_Outcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		auth  func(challenge string) []string
		code  int
		stale bool
		user  string
	}{
		{"no credentials", func(string) []string { return nil }, 407, false, ""},
		{"right password", func(c string) []string { return []string{answer(t, c, "hotline", "trunkpw", 1)} }, 0, false, "hotline"},
		{"wrong password", func(c string) []string { return []string{answer(t, c, "hotline", "nope", 1)} }, 403, false, "hotline"},
		{"other user", func(c string) []string { return []string{answer(t, c, "mallory", "trunkpw", 1)} }, 403, false, "mallory"},
		{"other realm", func(c string) []string {
			return []string{strings.Replace(answer(t, c, "hotline", "trunkpw", 1), `realm="carrier"`, `realm="elsewhere"`, 1)}
		}, 407, false, ""},
		{"nonce not ours", func(string) []string {
			return []string{answer(t, `Digest realm="carrier", nonce="forged", algorithm=MD5, qop="auth"`, "hotline", "trunkpw", 1)}
		}, 407, true, "hotline"},
		{"other algorithm", func(c string) []string {
			return []string{strings.Replace(answer(t, c, "hotline", "trunkpw", 1), "algorithm=MD5", "algorithm=SHA-256", 1)}
		}, 407, false, "hotline"},
		{"qop without cnonce", func(c string) []string {
			return []string{strings.Replace(answer(t, c, "hotline", "trunkpw", 1), `cnonce="0a4f113b"`, `cnonce=""`, 1)}
		}, 400, false, "hotline"},
		{"unterminated quote", func(string) []string { return []string{`Digest username="hotline, realm="carrier`} }, 400, false, ""},
		{"basic, then digest", func(c string) []string {
			return []string{"Basic aG90bGluZTp0cnVua3B3", answer(t, c, "hotline", "trunkpw", 1)}
		}, 0, false, "hotline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
			d := newCheck(t, &now)
			code, stale, user := d.check(invite(tc.auth(d.challenge(false))...))
			if code != tc.code || stale != tc.stale || user != tc.user {
				t.Errorf("check = %d, stale %v, user %q; want %d, %v, %q", code, stale, user, tc.code, tc.stale, tc.user)
			}
		})
	}
}

// A nonce-count seen before is a replay, and a nonce expires: both get a stale 407.
func TestDigestCheck_ReplayAndExpiry(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	d := newCheck(t, &now)
	c := d.challenge(false)
	steps := []struct {
		name    string
		advance time.Duration
		nc      int
		code    int
		stale   bool
	}{
		{"first use", 0, 1, 0, false},
		{"replayed nc", 0, 1, 407, true},
		{"next nc", time.Minute, 2, 0, false},
		{"expired", nonceTTL, 3, 407, true},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		code, stale, _ := d.check(invite(answer(t, c, "hotline", "trunkpw", s.nc)))
		if code != s.code || stale != s.stale {
			t.Errorf("%s: check = %d, stale %v; want %d, %v", s.name, code, stale, s.code, s.stale)
		}
	}
	if !strings.Contains(d.challenge(true), "stale=true") {
		t.Error("a stale challenge does not say stale=true")
	}
}

func TestParseParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want map[string]string // nil: an error
	}{
		{"tokens and quotes", `username="a b", Realm="x,y", nc=00000001, qop=auth`,
			map[string]string{"username": "a b", "realm": "x,y", "nc": "00000001", "qop": "auth"}},
		{"escaped quote", `username="a\"b"`, map[string]string{"username": `a"b`}},
		{"spaces around", ` a = 1 ,b="2" `, map[string]string{"a": "1", "b": "2"}},
		{"empty", ``, map[string]string{}},
		{"no value", `username`, nil},
		{"unterminated", `username="a`, nil},
		{"junk after quote", `username="a"b`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseParams(tc.in)
			switch {
			case tc.want == nil && err == nil:
				t.Errorf("parseParams(%q) = %v, want an error", tc.in, got)
			case tc.want != nil && (err != nil || !maps.Equal(got, tc.want)):
				t.Errorf("parseParams(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestNewDigestCheck_RefusesBadConfig(t *testing.T) {
	t.Parallel()
	for _, a := range []InviteAuth{
		{Realm: "carrier", User: "", Password: "pw"},
		{Realm: "carrier", User: "a b", Password: "pw"},
		{Realm: "carrier", User: "hotline"},
		{Realm: `car"rier`, User: "hotline", Password: "pw"},
	} {
		if _, err := newDigestCheck(a); err == nil {
			t.Errorf("newDigestCheck(%+v) accepted", a)
		}
	}
}
