package sip

import (
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// FuzzDigestCredentials feeds an Authorization value, from a source
// address, through the registrar's credential checks (credentials,
// authenticate, lock-outs). They must never panic, and never accept
// anything but qop=auth credentials of the address-of-record user,
// answering a nonce issued to that source.
func FuzzDigestCredentials(f *testing.F) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg := RegistrarConfig{Realm: "test", Accounts: []Account{{User: "1001", Password: "s3cret"}}}.withDefaults()
	key := make([]byte, 32)      // one nonce key for every run, so seeded nonces stay ours
	const src = "192.0.2.1:5060" // the address the seeded nonce was issued to
	seed, err := newRegistrar(cfg)
	if err != nil {
		f.Fatal(err)
	}
	seed.nonces.key = key
	nonce := seed.nonces.issue(now, sourceKey(src))
	answer := func(qop []string, user, password string) string {
		cred, err := digest.Digest(&digest.Challenge{Realm: "test", Nonce: nonce, Algorithm: "MD5", QOP: qop},
			digest.Options{Method: "REGISTER", URI: "sip:192.0.2.9", Username: user, Password: password, Cnonce: "c0ffee", Count: 1})
		if err != nil {
			f.Fatal(err)
		}
		return cred.String()
	}
	for _, v := range []string{
		answer([]string{"auth"}, "1001", "s3cret"),
		answer([]string{"auth"}, "1001", "guess"),
		answer([]string{"auth"}, "9999", "s3cret"),
		answer(nil, "1001", "s3cret"),
		`Digest username="1001", realm="test", nonce="` + nonce + `", uri="sip:h", response="00", qop=auth, nc=00000001, cnonce="x"`,
		`Digest username="1001", realm="test", nonce="x", uri="sip:h", response="00", qop=auth-int, nc=1, cnonce="x"`,
		`Digest username="1001", realm="test", nonce="x", uri="sip:h", response="00", algorithm=SHA-256`,
		`Digest username="1001", realm="test", userhash=true`,
		`Digest realm="test", nc=ffffffff`,
		`Digest realm="test", nc=zz`,
		`Digest realm="test", nc=-1, qop=auth`,
		`Digest realm="test", username="unterminated`,
		`Digest realm=test,,,=,"`,
		`Digest `,
		`Digest`,
		`digest realm="test"`,
		`Basic MTAwMTpzM2NyZXQ=`,
		``,
	} {
		f.Add(v, src)
		f.Add(v, "[2001:db8::1]:5060")
	}
	f.Add(answer([]string{"auth"}, "1001", "s3cret"), "198.51.100.1:5060")

	// The harness reaches acceptance: the right answer from src passes.
	req := sipmsg.NewRequest(sipmsg.REGISTER, sipmsg.Uri{Scheme: "sip", Host: "192.0.2.9"})
	req.AppendHeader(sipmsg.NewHeader("Authorization", answer([]string{"auth"}, "1001", "s3cret")))
	if res, _ := seed.authenticate(req, "1001", sourceKey(src), now); res != authOK {
		f.Fatalf("the right answer: result %d, want authOK", res)
	}
	f.Add(`Digest realm="test"`, "not an address")

	f.Fuzz(func(t *testing.T, value, source string) {
		r, err := newRegistrar(cfg)
		if err != nil {
			t.Fatal(err)
		}
		r.nonces.key = key
		req := sipmsg.NewRequest(sipmsg.REGISTER, sipmsg.Uri{Scheme: "sip", Host: "192.0.2.9"})
		req.AppendHeader(sipmsg.NewHeader("Authorization", value))
		req.SetSource(source)
		res, ls := r.authenticate(req, "1001", sourceKey(req.Source()), now)
		if res < authOK || res > authBad {
			t.Fatalf("result %d out of range", res)
		}
		if ls != nil && res != authForbidden {
			t.Errorf("lock-out %+v with result %d", ls, res)
		}
		if res != authOK {
			return
		}
		cred, err := digest.ParseCredentials(value)
		if err != nil || cred.QOP != "auth" || cred.Username != "1001" || cred.Realm != "test" ||
			sourceKey(source) != sourceKey(src) {
			t.Errorf("accepted %q from %q", value, source)
		}
		// The same header again is a replay.
		if again, _ := r.authenticate(req, "1001", sourceKey(req.Source()), now); again == authOK {
			t.Errorf("accepted %q twice", value)
		}
	})
}
