package ivr

import (
	"context"
	"fmt"
)

// bridgedPhase connects the call to an agent who answered, until either hangs up. For an
// agent-first callback the call starts here, with the agent already on the line.
type bridgedPhase struct {
	queue string
	entry string // the queue entry the agent answered for
	agent *peer
	stop  func()
	rec   *CallRecord // the agent leg's own record
}

func newBridged(qname, entry string, agent *peer) *bridgedPhase {
	return &bridgedPhase{queue: qname, entry: entry, agent: agent}
}

func (*bridgedPhase) name() string { return "bridged" }

func (p *bridgedPhase) enter(ctx context.Context, c *call) error {
	c.silence()
	now := c.e.now()
	if c.rec.Queue == nil {
		c.rec.Queue = &QueueRecord{Name: p.queue, JoinedAt: now}
	}
	c.rec.Queue.Agent, c.rec.Queue.AnsweredAt = p.agent.id, &now
	c.rec.Outcome = OutcomeAnswered
	c.peer = p.agent
	c.publish()
	// The agent's leg is listed and counted too, for as long as it is bridged to this call.
	p.rec = &CallRecord{CallID: p.agent.leg.ID(), Direction: DirectionOutbound, Kind: KindAgent,
		Caller: Party{User: p.agent.id}, Start: now, TreeVersion: c.rec.TreeVersion,
		Queue:  &QueueRecord{Name: p.queue, Agent: p.agent.id, JoinedAt: now, AnsweredAt: &now},
		Phases: []PhaseVisit{{Phase: "bridged", At: now}}, Outcome: OutcomeAnswered,
		Peer: c.rec.CallID}
	c.rec.Peer = p.agent.leg.ID()
	c.e.metrics.callsActive.Inc()
	c.e.records.publish(p.rec)
	c.e.watch(p.agent.leg, p.agent.m) // an agent whose phone vanished ends the call too
	stop, err := c.e.bridge(ctx, c.m, p.agent.m)
	if err != nil {
		return fmt.Errorf("call %s: bridge to agent %s: %w", c.rec.CallID, p.agent.id, err)
	}
	p.stop = stop
	return nil
}

func (p *bridgedPhase) on(ctx context.Context, c *call, ev event) error {
	switch ev := ev.(type) {
	case peerGoneEvent:
		c.peer = nil
		if ev.silent && p.rec != nil {
			p.rec.Outcome = OutcomeRTPTimeout // the agent's phone is gone; leave hangs it up
		}
		return c.hangup(ctx) // the agent hung up (or vanished): so do we, to the caller
	case rtpTimeoutEvent:
		return c.dead(ctx, OutcomeRTPTimeout) // the caller vanished: leave hangs up the agent first
	case hangupEvent:
		c.rec.Outcome = cmpOr(timedOut(ev.cause), c.rec.Outcome)
	case shutdownEvent:
		c.rec.Outcome = cmpOr(timedOut(ev.cause), c.rec.Outcome)
	}
	return nil // keys are the agent's business now; a hang-up or stop ends the call
}

// leave unbridges, hangs up the agent if still there, releases its media and frees the
// agent in its queues (wrap-up, then ready).
func (p *bridgedPhase) leave(ctx context.Context, c *call) {
	if p.stop != nil {
		p.stop()
	}
	c.peer = nil
	select {
	case <-p.agent.leg.Done():
	default:
		p.agent.leg.Hangup(context.WithoutCancel(ctx))
	}
	p.agent.close()
	c.e.dispatch.completed(p.queue, p.agent.id, p.entry)
	if p.rec != nil {
		c.e.metrics.callsActive.Dec()
		c.e.finish(p.rec, nil)
	}
}
