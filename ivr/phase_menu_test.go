package ivr

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// A caller who presses nothing hears the greeting, the timeout prompt and the greeting
// again twice (max_retries 2), then goodbye, and we hang up: the record ends max_retries
// and lists only prompts that started before the call ended.
func TestMenu_SilentCallerIsEndedPolitelyAfterRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		p := dial(t.Context(), e, "c1", "+100")
		time.Sleep(time.Minute)
		synctest.Wait()
		must(t, p.ended(t))
		r := p.rec(t, e)
		if got, want := prompts(r), "main timeout main timeout main goodbye"; got != want {
			t.Errorf("prompts = %q, want %q", got, want)
		}
		if r.Outcome != OutcomeMaxRetries || !p.leg.hungUpByUs() {
			t.Errorf("outcome %q, hung up by us %v; want max_retries by us", r.Outcome, p.leg.hungUpByUs())
		}
		if got := phases(r); got != "menu ending" {
			t.Errorf("phases = %q", got)
		}
		for _, pp := range r.Prompts {
			if pp.At.After(*r.End) {
				t.Errorf("prompt %s at %v after the end %v", pp.Prompt, pp.At, *r.End)
			}
		}
	})
}

// Keys walk the tree: 1 enters sub (barging into the greeting), * goes back, 2 plays info,
// 0 says goodbye and we hang up.
func TestMenu_KeysWalkTheTree(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		p := dial(t.Context(), e, "c1", "+100")
		synctest.Wait()
		p.m.press("1*2")
		time.Sleep(2 * time.Second)
		p.m.press("0")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		must(t, p.ended(t))
		r := p.rec(t, e)
		var nodes, keys string
		for _, n := range r.Nodes {
			nodes += n.Node + " "
		}
		for _, k := range r.Keys {
			keys += k.Key + "@" + k.Node + " "
		}
		if nodes != "main sub main " {
			t.Errorf("nodes = %q", nodes)
		}
		if keys != "1@main *@sub 2@main 0@main " {
			t.Errorf("keys = %q", keys)
		}
		if r.Outcome != OutcomeGoodbye {
			t.Errorf("outcome = %q", r.Outcome)
		}
	})
}

// A caller who hangs up mid-menu ends the call as caller_hangup; nothing is said after.
func TestMenu_CallerHangsUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		p := dial(t.Context(), e, "c1", "+100")
		synctest.Wait()
		p.leg.farHangup()
		synctest.Wait()
		must(t, p.ended(t))
		if r := p.rec(t, e); r.Outcome != OutcomeCallerHangup || r.End == nil {
			t.Errorf("outcome %q end %v", r.Outcome, r.End)
		}
		if p.leg.hungUpByUs() {
			t.Error("we sent a BYE to a caller who had hung up")
		}
	})
}

// Stopping the server ends a call in the menu as shutdown.
func TestMenu_ServerStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		ctx, cancel := context.WithCancelCause(t.Context())
		p := dial(ctx, e, "c1", "+100")
		synctest.Wait()
		cancel(errStopping)
		synctest.Wait()
		must(t, p.ended(t))
		if r := p.rec(t, e); r.Outcome != OutcomeShutdown {
			t.Errorf("outcome %q, want shutdown", r.Outcome)
		}
	})
}

// A key another path already reported (the tone left in the audio after RFC 4733) counts
// once; a key by a path the call's DTMF mode does not listen to is not counted.
func TestMenu_KeyCountedOncePerPress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		p := dial(t.Context(), e, "c1", "+100")
		synctest.Wait()
		now := time.Now()
		p.m.digits <- mediaDigit('1', "rfc4733", now)
		p.m.digits <- mediaDigit('1', "inband", now.Add(40*time.Millisecond))
		synctest.Wait()
		if r := p.rec(t, e); len(r.Keys) != 1 || r.Nodes[len(r.Nodes)-1].Node != "sub" {
			t.Errorf("keys %v nodes %v: want one press, in sub", r.Keys, r.Nodes)
		}
		p.leg.farHangup()
		synctest.Wait()
		p.ended(t)
	})
}

// A key that barges into a sequence of prompts cuts it: the record lists what started,
// not what was due later.
func TestMenu_BargeInCutsTheRecordedPrompts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		p := dial(t.Context(), e, "c1", "+100")
		synctest.Wait()
		p.m.press("7") // invalid: "invalid", then "main" again
		p.m.press("1") // during "invalid"
		synctest.Wait()
		if got := prompts(p.rec(t, e)); got != "main invalid sub" {
			t.Errorf("prompts %q, want main invalid sub", got)
		}
		p.leg.farHangup()
		synctest.Wait()
		p.ended(t)
	})
}
