package ivr

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/sip"
)

// The dead-media watch is wired to the real session and to the fake.
var (
	_ silenceWatcher = (*media.Session)(nil)
	_ silenceWatcher = (*fakeMedia)(nil)
)

const (
	testRTPTimeout  = 30 * time.Second
	testHoldTimeout = 10 * time.Minute
)

// deadCallEngine is the test engine with media.rtp_timeout and media.hold_timeout set.
func deadCallEngine(t *testing.T) *Engine {
	t.Helper()
	e := newTestEngine(t)
	e.cfg.Media.RTPTimeout, e.cfg.Media.HoldTimeout = testRTPTimeout, testHoldTimeout
	return e
}

// sipLeg is a fakeLeg with what *sip.Leg and *sip.Call add that dead-call detection uses:
// the SDP the call was set up with, the far end's later offers (OnOffer) and why the leg
// ended (Cause).
type sipLeg struct {
	*fakeLeg
	sdp   []byte
	mu    sync.Mutex
	offer func(sdp []byte)
	cause error
}

func (l *sipLeg) RemoteSDP() []byte { return l.sdp }

func (l *sipLeg) OnOffer(f func(sdp []byte)) {
	l.mu.Lock()
	l.offer = f
	l.mu.Unlock()
}

func (l *sipLeg) Cause() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cause
}

// offers is the far end sending a re-INVITE with sdp, answered with 2xx.
func (l *sipLeg) offers(sdp string) {
	l.mu.Lock()
	f := l.offer
	l.mu.Unlock()
	f([]byte(sdp))
}

// endedBy is sip ending the leg with cause (a timer), as the far end's BYE ends it.
func (l *sipLeg) endedBy(cause error) {
	l.mu.Lock()
	l.cause = cause
	l.mu.Unlock()
	l.farHangup()
}

// dialSIP starts an inbound call on a sipLeg, in the menu, and presses keys at once.
func dialSIP(ctx context.Context, e *Engine, id, keys string) (*phone, *sipLeg) {
	l := &sipLeg{fakeLeg: newFakeLeg(id), sdp: []byte(sdpWith("sendrecv"))}
	p := &phone{id: id, leg: l.fakeLeg, m: newFakeMedia(), err: make(chan error, 1)}
	menu := e.menu.Load()
	rec := &CallRecord{CallID: id, Direction: DirectionInbound, Kind: KindCaller, Caller: Party{User: "+" + id},
		TreeVersion: menu.Tree.Version(), Start: e.now()}
	c := &call{e: e, leg: l, m: p.m, menu: menu, rec: rec, dtmf: callDTMF{rfc4733: true},
		keys: keyFilter{window: 250 * time.Millisecond}, trunk: "test"}
	for i := range len(keys) {
		p.m.digits <- mediaDigit(keys[i], "rfc4733", time.Now())
	}
	go func() { p.err <- e.runCall(ctx, c, newMenuPhase(menu)) }()
	return p, l
}

func sdpWith(direction string) string {
	return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=" + direction + "\r\n"
}

// running fails the test if the call has ended.
func (p *phone) running(t *testing.T, why string) {
	t.Helper()
	select {
	case err := <-p.err:
		t.Fatalf("call %s ended (%v) %s", p.id, err, why)
	default:
	}
}

func (q *queues) onLine(t *testing.T, qname string) int {
	t.Helper()
	sn, err := q.d.snapshot()
	must(t, err)
	for _, s := range sn {
		if s.Name == qname {
			return s.OnLine
		}
	}
	t.Fatalf("no queue %s", qname)
	return 0
}

// A caller on hold whose RTP stops (gone without a BYE) leaves the queue after
// media.rtp_timeout: the call ends as rtp_timeout, counted so, hung up by us, and an agent
// who becomes ready afterwards is never rung for it.
func TestDeadCall_GhostOnHoldLeavesTheQueueUnrung(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := deadCallEngine(t)
		q := enableTestQueues(t, e, nil, nil, alice())
		if _, err := q.d.setAgentState("alice", "paused"); err != nil {
			t.Fatal(err)
		}
		p := holdCaller(t.Context(), e, "ghost", "+100")
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := p.m.looping(); got != promptMusic || q.onLine(t, "support") != 1 {
			t.Fatalf("before vanishing: hears %q, %d on line", got, q.onLine(t, "support"))
		}
		p.m.vanish()
		time.Sleep(testRTPTimeout - time.Second)
		synctest.Wait()
		p.running(t, "before the RTP timeout")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		must(t, p.ended(t))
		if n := q.onLine(t, "support"); n != 0 {
			t.Errorf("%d still on line in the queue, want 0", n)
		}
		rec := p.rec(t, e)
		if rec.Outcome != OutcomeRTPTimeout || !p.leg.hungUpByUs() || phases(rec) != "menu hold ending" {
			t.Errorf("outcome %q, hung up by us %v, phases %q; want rtp_timeout, true, menu hold ending",
				rec.Outcome, p.leg.hungUpByUs(), phases(rec))
		}
		want := `hotline_calls_total{direction="inbound",kind="caller",outcome="rtp_timeout"} 1`
		if m := metricText(t, e); !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(m, "hotline_calls_total"))
		}
		if _, err := q.d.setAgentState("alice", "ready"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		q.dialer.none(t)
	})
}

// A ghost in the menu is ended the same way (a short timeout: the menu's own digit
// timeouts would end the call first).
func TestDeadCall_GhostInTheMenu(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := deadCallEngine(t)
		e.cfg.Media.RTPTimeout = 2 * time.Second
		p, _ := dialSIP(t.Context(), e, "c1", "")
		p.m.vanish()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		must(t, p.ended(t))
		if rec := p.rec(t, e); rec.Outcome != OutcomeRTPTimeout || !p.leg.hungUpByUs() {
			t.Errorf("outcome %q hung up by us %v", rec.Outcome, p.leg.hungUpByUs())
		}
	})
}

// A caller bridged to an agent vanishes: both legs end (the agent's first), the agent is
// freed, the call's outcome is rtp_timeout.
func TestDeadCall_BridgedGhostEndsBothLegs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := deadCallEngine(t)
		q := enableTestQueues(t, e, nil, nil, alice())
		p := holdCaller(t.Context(), e, "c1", "+100")
		time.Sleep(time.Second)
		synctest.Wait()
		agentLeg, agentMedia := q.dialer.next(t).answer("agent-call")
		synctest.Wait()
		if p.m.bridged != agentMedia {
			t.Fatal("caller not bridged to the agent")
		}
		p.m.vanish()
		time.Sleep(testRTPTimeout + time.Second)
		synctest.Wait()
		must(t, p.ended(t))
		rec := p.rec(t, e)
		if rec.Outcome != OutcomeRTPTimeout || !p.leg.hungUpByUs() || !agentLeg.hungUpByUs() || !agentMedia.closed {
			t.Errorf("outcome %q, caller hung up by us %v, agent hung up by us %v, agent media released %v",
				rec.Outcome, p.leg.hungUpByUs(), agentLeg.hungUpByUs(), agentMedia.closed)
		}
		if p.m.bridged != nil {
			t.Error("still bridged")
		}
		if ar := e.records.find("agent-call"); ar == nil || ar.End == nil || ar.Outcome != OutcomeAnswered {
			t.Errorf("agent leg record %+v", ar)
		}
		if st := q.agentState(t, "support", "alice"); st.String() != "wrap-up" {
			t.Errorf("alice after the call: %v, want wrap-up", st)
		}
	})
}

// The agent's phone vanishes while bridged (its RTP stops): the caller is hung up (the
// call was answered), the agent's leg too, and the agent's record says rtp_timeout.
func TestDeadCall_VanishedAgentEndsTheCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := deadCallEngine(t)
		q := enableTestQueues(t, e, nil, nil, alice())
		p := holdCaller(t.Context(), e, "c1", "+100")
		time.Sleep(time.Second)
		synctest.Wait()
		agentLeg, agentMedia := q.dialer.next(t).answer("agent-call")
		synctest.Wait()
		agentMedia.vanish()
		time.Sleep(testRTPTimeout + time.Second)
		synctest.Wait()
		must(t, p.ended(t))
		if rec := p.rec(t, e); rec.Outcome != OutcomeAnswered || !p.leg.hungUpByUs() || !agentLeg.hungUpByUs() {
			t.Errorf("outcome %q, caller hung up by us %v, agent hung up by us %v",
				rec.Outcome, p.leg.hungUpByUs(), agentLeg.hungUpByUs())
		}
		if ar := e.records.find("agent-call"); ar == nil || ar.Outcome != OutcomeRTPTimeout {
			t.Errorf("agent leg record %+v, want outcome rtp_timeout", ar)
		}
	})
}

// A caller who holds the call (re-INVITE a=sendonly: its phone may send nothing) is not
// ended by media.rtp_timeout but by media.hold_timeout; once it resumes (sendrecv), the RTP
// timeout applies again, counted from the resume.
func TestDeadCall_HeldStreamJudgedByHoldTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := deadCallEngine(t)
		enableTestQueues(t, e, nil, nil)
		p, leg := dialSIP(t.Context(), e, "c1", "4")
		time.Sleep(5 * time.Second)
		synctest.Wait()
		leg.offers(sdpWith("sendonly"))
		p.m.vanish()
		time.Sleep(5 * testRTPTimeout)
		synctest.Wait()
		p.running(t, "on hold after the RTP timeout")
		leg.offers(sdpWith("sendrecv")) // resumed, but sends nothing
		time.Sleep(testRTPTimeout - time.Second)
		synctest.Wait()
		p.running(t, "before the RTP timeout counted from the resume")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		must(t, p.ended(t))
		if rec := p.rec(t, e); rec.Outcome != OutcomeRTPTimeout {
			t.Errorf("outcome %q, want rtp_timeout", rec.Outcome)
		}

		q, leg2 := dialSIP(t.Context(), e, "c2", "4")
		time.Sleep(5 * time.Second)
		leg2.offers(sdpWith("inactive"))
		q.m.vanish()
		time.Sleep(testHoldTimeout - time.Second)
		synctest.Wait()
		q.running(t, "on hold before the hold timeout")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		must(t, q.ended(t))
		if rec := q.rec(t, e); rec.Outcome != OutcomeRTPTimeout {
			t.Errorf("held past the hold timeout: outcome %q, want rtp_timeout", rec.Outcome)
		}
	})
}

// sip ending a leg on a timer (sip.max_call_duration, an RFC 4028 session not refreshed)
// names the outcome, in the menu, on hold and bridged.
func TestDeadCall_SIPTimersNameTheOutcome(t *testing.T) {
	tests := []struct {
		name    string
		keys    string
		agent   bool
		cause   error
		outcome string
	}{
		{"menu, max duration", "", false, sip.ErrMaxDuration, OutcomeMaxDuration},
		{"hold, session expired", "4", false, sip.ErrSessionExpired, OutcomeSessionExpired},
		{"bridged, max duration", "4", true, sip.ErrMaxDuration, OutcomeMaxDuration},
		{"hold, hangup", "4", false, sip.ErrHangup, OutcomeAbandoned},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := deadCallEngine(t)
				var agents []AgentConfig
				if tc.agent {
					agents = append(agents, alice())
				}
				q := enableTestQueues(t, e, nil, nil, agents...)
				p, leg := dialSIP(t.Context(), e, "c1", tc.keys)
				time.Sleep(3 * time.Second)
				synctest.Wait()
				var agentLeg *fakeLeg
				if tc.agent {
					agentLeg, _ = q.dialer.next(t).answer("agent-call")
					synctest.Wait()
				}
				leg.endedBy(tc.cause)
				synctest.Wait()
				must(t, p.ended(t))
				if rec := p.rec(t, e); rec.Outcome != tc.outcome {
					t.Errorf("outcome %q, want %q", rec.Outcome, tc.outcome)
				}
				if agentLeg != nil && !agentLeg.hungUpByUs() {
					t.Error("the agent was not hung up")
				}
			})
		})
	}
}
