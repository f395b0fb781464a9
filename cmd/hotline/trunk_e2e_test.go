package main

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hotline-ivr/hotline/ivr/phone"
	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/sip/siptest"
)

// carrierRealm is the digest realm of the test carrier.
const carrierRealm = "carrier"

// customerNumber is the number carol keys in for her callback; the queue's dial plan
// allows national mobile numbers only.
const (
	customerNumber = "13800138000"
	mobilesOnly    = `allow: ["/1[3-9][0-9]{9}/"]`
)

// authLog records how the carrier treated each INVITE Hotline sent it.
type authLog struct {
	mu     sync.Mutex
	checks []siptest.AuthCheck
}

func (l *authLog) add(c siptest.AuthCheck) {
	l.mu.Lock()
	l.checks = append(l.checks, c)
	l.mu.Unlock()
}

func (l *authLog) all() []siptest.AuthCheck {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.checks)
}

// trunkSetup is a Hotline whose queue "support" dials callbacks through trunk "carrier",
// and the carrier: the customer's phone behind it, which demands digest credentials
// (hotline/trunkpw) of every INVITE, as a carrier's proxy does.
type trunkSetup struct {
	s       *server
	cfg     string
	prompts map[string]*media.Prompt
	carrier *phone.Agent
	auth    *authLog
}

// startTrunkSetup starts the carrier and then Hotline, whose trunk answers the carrier's
// challenge with trunkPassword; queueYAML is added to the queue's settings.
func startTrunkSetup(t *testing.T, ctx context.Context, trunkPassword, queueYAML string) *trunkSetup {
	t.Helper()
	// The carrier's phone recognises the menu's prompts; they come from the plain e2e menu,
	// since Hotline's config needs the carrier's address first.
	l, err := loadConfig(e2eConfigWith(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	menu, err := buildMenu(l)
	if err != nil {
		t.Fatal(err)
	}
	ts := &trunkSetup{auth: &authLog{}}
	// Started before Hotline, so it closes after Hotline has stopped (cleanups run in
	// reverse) and still gets Hotline's BYEs.
	ts.carrier, err = phone.NewAgent(ctx, phone.AgentOptions{Prompts: menu.Prompts,
		Challenge: siptest.InviteAuth{Realm: carrierRealm, User: "hotline", Password: "trunkpw", OnCheck: ts.auth.add}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.carrier.Close() })

	sipYAML := agentSIP + "  trunks: [{name: carrier, uri: \"sip:" + ts.carrier.Addr() +
		"\", username: hotline, password: " + trunkPassword + "}]\n"
	ts.cfg = queueConfig(t, t.TempDir(), "    max_wait: 300ms\n    ring_timeout: 5s\n    callback_trunk: carrier\n"+queueYAML,
		agentYAML, sipYAML)
	ts.s, ts.prompts = startTestServerWith(t, ts.cfg)
	return ts
}

// newAgent1 registers agent1, who answers at once, and so puts it on duty.
func (ts *trunkSetup) newAgent1(t *testing.T, ctx context.Context) *phone.Agent {
	t.Helper()
	a, err := phone.NewAgent(ctx, phone.AgentOptions{Registrar: ts.s.SIPAddr, User: "agent1", Password: "agentpw", Prompts: ts.prompts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// A callback is dialled through a SIP trunk: once agent1 answers, carol's number goes to
// the carrier, which challenges the INVITE with 407; Hotline answers the challenge with the
// trunk's credentials, the customer answers, and the agent and the customer hear each other.
func TestE2E_CallbackThroughTrunkWithDigest(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := startTrunkSetup(t, ctx, "trunkpw", "    callback: {"+mobilesOnly+"}\n")
	takeCallbackKeyed(t, ctx, ts.s, ts.cfg, customerNumber)
	if got := ts.auth.all(); len(got) != 0 {
		t.Fatalf("the carrier was sent INVITEs %+v before an agent was on duty", got)
	}
	agent := ts.newAgent1(t, ctx)

	var ac, cc *phone.AgentCall
	for ac == nil || cc == nil {
		select {
		case ac = <-agent.Calls():
			if cc != nil {
				t.Fatal("the customer was dialled before the agent answered (want agent-first)")
			}
		case cc = <-ts.carrier.Calls():
		case <-ctx.Done():
			t.Fatalf("agent call %v, customer call %v; the carrier saw %+v", ac != nil, cc != nil, ts.auth.all())
		}
	}
	// RFC 3261 §22.3: the first INVITE carries no credentials and is challenged; the retry
	// carries hotline's, for the number carol keyed in.
	want := []siptest.AuthCheck{{User: customerNumber, Code: 407}, {User: customerNumber, Username: "hotline"}}
	if got := ts.auth.all(); !slices.Equal(got, want) {
		t.Errorf("the carrier saw INVITEs %+v, want %+v", got, want)
	}
	if from := cc.From().User; from != "hotline" {
		t.Errorf("the customer saw caller ID %q, want the callback caller ID hotline", from)
	}

	assertBothHear(t, ctx, ac, cc, ts.prompts)
	cc.Hangup(ctx)
	select {
	case <-ac.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the agent's leg did not end with the customer's")
	}
	if cb := waitCallback(t, ts.s, "done"); cb.Attempts != 1 || cb.Outcome != "answered" {
		t.Errorf("callback %+v, want done after one answered attempt", cb)
	}
}

// With the wrong trunk password the carrier refuses every attempt (403 after the
// challenge), the customer's phone never rings, and the callback fails after its attempts;
// the agent is free again.
func TestE2E_CallbackThroughTrunkWrongPasswordFails(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	ts := startTrunkSetup(t, ctx, "wrongpw", "    callback: {max_attempts: 2, retry_delay: 100ms, "+mobilesOnly+"}\n")
	takeCallbackKeyed(t, ctx, ts.s, ts.cfg, customerNumber)
	ts.newAgent1(t, ctx)

	if cb := waitCallback(t, ts.s, "failed"); cb.Attempts != 2 {
		t.Errorf("callback %+v, want failed after 2 attempts", cb)
	}
	got := ts.auth.all()
	refused := 0
	for _, c := range got {
		switch {
		case c.Code == 0:
			t.Errorf("the carrier accepted credentials %+v with the wrong password", c)
		case c.Code == 403 && c.Username == "hotline" && c.User == customerNumber:
			refused++
		}
	}
	if refused != 2 {
		t.Errorf("the carrier saw INVITEs %+v, want two attempts refused 403 after the challenge", got)
	}
	select {
	case r := <-ts.carrier.Rings():
		t.Errorf("the customer's phone rang (%+v) without valid trunk credentials", r)
	default:
	}
	waitReady(t, ts.s, 1)
}
