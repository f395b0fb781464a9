package ivr

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/menus"
)

// transferEngine is the test engine whose main menu transfers on 5 (to a partner's URI,
// ringing 10 s, "connecting_you" first) and 6 (a number through trunk "carrier"), with
// queues running so that the dialler is there.
func transferEngine(t *testing.T) (*Engine, *queues) {
	t.Helper()
	e := newTestEngine(t)
	cfg := testMenuConfig()
	main := cfg.Nodes["main"]
	main.Options["5"] = menus.OptionConfig{Action: menus.ActionTransfer, URI: "sip:desk@partner.example",
		Prompt: "connecting_you", Timeout: 10 * time.Second}
	main.Options["6"] = menus.OptionConfig{Action: menus.ActionTransfer, Trunk: "carrier", Number: "+4930123"}
	cfg.Nodes["main"] = main
	tree, err := menus.CompileWith(cfg, menus.CompileOptions{Enabled: map[string]bool{
		menus.ActionFreeze: true, menus.ActionEnqueue: true, menus.ActionTransfer: true}})
	must(t, err)
	ps := map[string]*media.Prompt{}
	for _, r := range tree.PromptRefs() {
		ps[r.ID] = prompt(r.ID, time.Second)
	}
	e.menu.Store(&Menu{Tree: tree, Prompts: ps})
	return e, enableTestQueues(t, e, nil, nil)
}

// The partner answers while "connecting you" plays: once it has played the caller is
// bridged; the record shows the transfer and the partner's leg has its own record. The
// partner hangs up: so do we, to the caller.
// An unverified caller's From is never presented to the partner line as the caller ID.
func TestTransfer_UnverifiedCallerIDNotPresented(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, q := transferEngine(t)
		p := dial(t.Context(), e, "c1", "+19005550199")
		p.m.digits <- mediaDigit('5', "rfc4733", time.Now())
		synctest.Wait()
		r := q.dialer.next(t)
		if r.opts.FromUser != "" {
			t.Errorf("caller ID %q presented, want the trunk's own", r.opts.FromUser)
		}
		p.leg.farHangup()
		synctest.Wait()
		must(t, p.ended(t))
	})
}

func TestTransfer_AnsweredIsBridged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, q := transferEngine(t)
		p := dialWith(t.Context(), e, "c1", "anonymous", trusted("+100"))
		p.m.digits <- mediaDigit('5', "rfc4733", time.Now())
		synctest.Wait()
		r := q.dialer.next(t)
		// The caller's number is presented because a trusted trunk vouched for it.
		if r.target != "sip:desk@partner.example" || r.id != KindTransfer || r.opts.FromUser != "+100" || r.opts.Trunk != "" {
			t.Fatalf("dialled %q as %q with %+v", r.target, r.id, r.opts)
		}
		partner, pm := r.answer("partner-1")
		synctest.Wait()
		if bridgedTo(p.m) != nil {
			t.Fatal("bridged before the prompt ended")
		}
		time.Sleep(time.Second) // connecting_you ends
		synctest.Wait()
		if bridgedTo(p.m) != pm {
			t.Fatal("caller not bridged to the partner")
		}
		rec := p.rec(t, e)
		if rec.Outcome != OutcomeTransferred || rec.Transfer == nil || rec.Transfer.Outcome != TransferAnswered ||
			rec.Transfer.AnsweredAt == nil || rec.Transfer.Target != "sip:desk@partner.example" || rec.Peer != "partner-1" {
			t.Fatalf("record: %+v transfer %+v", rec, rec.Transfer)
		}
		if got := phases(rec); got != "menu transfer" {
			t.Errorf("phases %q", got)
		}
		pr := e.records.find("partner-1")
		if pr == nil || pr.Kind != KindTransfer || pr.Peer != "c1" {
			t.Fatalf("partner record %+v", pr)
		}
		partner.farHangup()
		synctest.Wait()
		must(t, p.ended(t))
		if !p.leg.hungUpByUs() {
			t.Error("caller not hung up after the partner left")
		}
		if rec := p.rec(t, e); rec.Outcome != OutcomeTransferred || rec.End == nil {
			t.Errorf("final record %+v", rec)
		}
		if pr := e.records.find("partner-1"); pr == nil || pr.End == nil || pr.Outcome != OutcomeTransferred {
			t.Errorf("partner record %+v", pr)
		}
	})
}

// A number through a trunk is dialled as the number on that trunk.
func TestTransfer_TrunkNumber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, q := transferEngine(t)
		p := dial(t.Context(), e, "c1", "+100")
		p.m.digits <- mediaDigit('6', "rfc4733", time.Now())
		synctest.Wait()
		r := q.dialer.next(t)
		if r.target != "+4930123" || r.opts.Trunk != "carrier" {
			t.Fatalf("dialled %q with %+v", r.target, r.opts)
		}
		_, pm := r.answer("partner-1")
		synctest.Wait()
		if bridgedTo(p.m) != pm { // no prompt: bridged at once
			t.Fatal("not bridged")
		}
		if got := p.rec(t, e).Transfer.Target; got != "carrier:+4930123" {
			t.Errorf("target %q", got)
		}
		p.leg.farHangup()
		synctest.Wait()
		must(t, p.ended(t))
		if bridgedTo(p.m) != nil || e.records.find("partner-1").End == nil {
			t.Error("partner leg not finished")
		}
	})
}

// A busy target, or one that never answers: the caller is told (the invalid prompt, then
// the node's greeting) and is back in the menu, where keys work again.
func TestTransfer_FailedReturnsToTheMenu(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    func(*ring)
		outcome string
	}{
		{"busy", func(r *ring) { r.decline(486) }, TransferBusy},
		{"no answer", func(*ring) { time.Sleep(11 * time.Second) }, TransferNoAnswer},
		{"unreachable", func(r *ring) { r.reply <- ringReply{err: errors.New("no route")} }, TransferFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e, q := transferEngine(t)
				p := dial(t.Context(), e, "c1", "+100")
				p.m.digits <- mediaDigit('5', "rfc4733", time.Now())
				synctest.Wait()
				tc.fail(q.dialer.next(t))
				synctest.Wait()
				rec := p.rec(t, e)
				if rec.Transfer == nil || rec.Transfer.Outcome != tc.outcome || rec.Outcome != "" {
					t.Fatalf("record outcome %q transfer %+v", rec.Outcome, rec.Transfer)
				}
				if got := phases(rec); got != "menu transfer menu" {
					t.Errorf("phases %q", got)
				}
				time.Sleep(3 * time.Second)
				p.m.digits <- mediaDigit('0', "rfc4733", time.Now())
				time.Sleep(2 * time.Second)
				synctest.Wait()
				must(t, p.ended(t))
				rec = p.rec(t, e)
				if got := prompts(rec); got != "main connecting_you invalid main goodbye" {
					t.Errorf("prompts %q", got)
				}
				if rec.Outcome != OutcomeGoodbye {
					t.Errorf("outcome %q", rec.Outcome)
				}
			})
		})
	}
}

// The caller hangs up while the partner rings: the ring is canceled and the call ends.
func TestTransfer_CallerHangsUpWhileRinging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, q := transferEngine(t)
		p := dial(t.Context(), e, "c1", "+100")
		p.m.digits <- mediaDigit('5', "rfc4733", time.Now())
		synctest.Wait()
		r := q.dialer.next(t)
		time.Sleep(3 * time.Second) // the prompt has played: music while it rings
		synctest.Wait()
		if got := p.m.looping(); got != promptMusic {
			t.Errorf("caller hears %q while it rings, want music", got)
		}
		p.leg.farHangup()
		synctest.Wait()
		must(t, p.ended(t))
		if r.ctx.Err() == nil {
			t.Error("ring not canceled")
		}
		rec := p.rec(t, e)
		if rec.Outcome != OutcomeCallerHangup || rec.Transfer.Outcome != TransferCanceled {
			t.Errorf("outcome %q transfer %+v", rec.Outcome, rec.Transfer)
		}
	})
}

// The caller hangs up just as the partner answers (before the bridge): the partner is hung
// up and its media released.
func TestTransfer_LateAnswerIsHungUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, q := transferEngine(t)
		p := dial(t.Context(), e, "c1", "+100")
		p.m.digits <- mediaDigit('5', "rfc4733", time.Now())
		synctest.Wait()
		r := q.dialer.next(t)
		partner, pm := r.answer("partner-1")
		p.leg.farHangup()
		synctest.Wait()
		must(t, p.ended(t))
		if !partner.hungUpByUs() {
			t.Error("partner not hung up")
		}
		pm.mu.Lock()
		closed := pm.closed
		pm.mu.Unlock()
		if !closed {
			t.Error("partner media not released")
		}
	})
}

// bridgedTo is the media f is bridged to, nil when none.
func bridgedTo(f *fakeMedia) Media {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bridged
}
