package ivr

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// The brown-out offer keeps the urgent path open: the freeze key reaches the freeze lane;
// silence says goodbye and releases the caller.
func TestOverload_FreezeKeyAndSilence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t)
		enableTestFreeze(t, e, FreezeConfig{Enabled: true})
		p := dialInto(t.Context(), e, "c1", "+200", nil, overloadPhase{})
		synctest.Wait()
		p.m.press("9")
		time.Sleep(time.Minute)
		synctest.Wait()
		must(t, p.ended(t))
		if r := p.rec(t, e); r.Outcome != OutcomeFrozen {
			t.Errorf("freeze key on the offer: outcome %q freeze %+v", r.Outcome, r.Freeze)
		}

		q := dialInto(t.Context(), e, "c2", "+300", nil, overloadPhase{})
		time.Sleep(time.Minute)
		synctest.Wait()
		must(t, q.ended(t))
		r := q.rec(t, e)
		if r.Outcome != OutcomeOverloadReleased || !strings.HasSuffix(prompts(r), "queue/en/overload_offer goodbye") {
			t.Errorf("silence on the offer: outcome %q prompts %q", r.Outcome, prompts(r))
		}
	})
}
