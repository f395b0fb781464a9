package ivr

import "context"

// endingPhase lets the last prompt play (goodbye, a refusal, a freeze reference, a callback
// confirmation), then hangs up. Keys no longer matter; the outcome is already decided.
type endingPhase struct{ outcome string }

func newEnding(outcome string) *endingPhase { return &endingPhase{outcome: outcome} }

func (*endingPhase) name() string { return "ending" }

func (p *endingPhase) enter(ctx context.Context, c *call) error {
	c.rec.Outcome = p.outcome
	c.publish()
	if c.playing == 0 {
		return c.hangup(ctx)
	}
	return nil
}

func (p *endingPhase) on(ctx context.Context, c *call, ev event) error {
	if _, ok := ev.(playedEvent); ok {
		return c.hangup(ctx)
	}
	return nil // a key, a hang-up, a stop, the caller's RTP stopping: the outcome stands
}
