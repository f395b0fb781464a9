package ivr

import (
	"context"
	"fmt"
	"time"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/menus"
)

// agentTransferTimeout is how long a number an agent transferred the caller to rings.
const agentTransferTimeout = 30 * time.Second

// bridgedPhase connects the call to an agent who answered, until either hangs up. For an
// agent-first callback the call starts here, with the agent already on the line.
//
// With transfer codes configured (agent_codes.transfer, transfer_allow), the agent's RFC
// 4733 keys are not relayed to the caller: a forwarder reads them off the agent's media and
// wakes the call through c.queued, and the call reads them as a code. A valid code frees
// the agent (hung up, wrap-up) and sends the caller, after "connecting", to the target
// queue's hold phase or to the transfer phase ringing the number; a refused one changes
// nothing but the record.
type bridgedPhase struct {
	queue string
	entry string // the queue entry the agent answered for
	agent *peer
	stop  func()
	rec   *CallRecord // the agent leg's own record

	keys     chan media.Digit // the agent's presses, from the forwarder
	wake     chan holdEvent   // c.queued while keys are forwarded: one wake-up pending at most
	quit     chan struct{}    // closed to end the forwarder
	fwdDone  chan struct{}    // closed when the forwarder has ended
	code     []byte           // the agent's keys of a transfer code so far
	codeAt   time.Time        // when the last of them was pressed
	next     phase            // the transfer's target phase, once the agent pressed a valid code
	released bool             // the agent is gone: unbridged, hung up, freed
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
	var opts []bridgeOption
	transfers := p.transfers(c).enabled()
	if transfers {
		opts = append(opts, takeDigitsB) // the caller must not hear a transfer code
	}
	stop, err := c.e.bridge(ctx, c.m, p.agent.m, opts...)
	if err != nil {
		return fmt.Errorf("call %s: bridge to agent %s: %w", c.rec.CallID, p.agent.id, err)
	}
	p.stop = stop
	if transfers {
		p.forward(c)
	}
	return nil
}

// transfers are the transfer codes; nil without a dispatcher.
func (p *bridgedPhase) transfers(c *call) *agentTransfers {
	if c.e.dispatch == nil {
		return nil
	}
	return &c.e.dispatch.xfer
}

// forward starts the forwarder of the agent's key presses. It never blocks: a flood beyond
// the buffer is dropped, and one pending wake-up stands for any number of presses.
func (p *bridgedPhase) forward(c *call) {
	p.keys, p.wake = make(chan media.Digit, 32), make(chan holdEvent, 1)
	p.quit, p.fwdDone = make(chan struct{}), make(chan struct{})
	c.queued = p.wake
	digits, keys, wake, quit, done := p.agent.m.Digits(), p.keys, p.wake, p.quit, p.fwdDone
	go func() {
		defer close(done)
		for {
			select {
			case d := <-digits:
				if d.Mode != media.ModeRFC4733 {
					continue // in-band tones pass with the audio anyway; codes are RFC 4733
				}
				select {
				case keys <- d:
				default:
					continue
				}
				select {
				case wake <- holdEvent{}:
				default:
				}
			case <-quit:
				return
			}
		}
	}()
}

func (p *bridgedPhase) on(ctx context.Context, c *call, ev event) error {
	switch ev := ev.(type) {
	case queueEvent: // the forwarder has the agent's keys
		for p.next == nil {
			select {
			case d := <-p.keys:
				if err := p.agentKey(ctx, c, d); err != nil {
					return err
				}
			default:
				return nil
			}
		}
	case playedEvent:
		if p.next != nil { // "connecting" played: on to the target queue
			return c.to(ctx, p.next)
		}
	case peerGoneEvent:
		c.peer = nil
		if ev.silent && p.rec != nil {
			p.rec.Outcome = OutcomeRTPTimeout // the agent's phone is gone; leave hangs it up
		}
		return c.hangup(ctx) // the agent hung up (or vanished): so do we, to the caller
	case rtpTimeoutEvent:
		return c.dead(ctx, OutcomeRTPTimeout) // the caller vanished: leave hangs up the agent first
	case hangupEvent:
		if p.next != nil { // hung up while being transferred
			c.setOutcome(cmpOr(timedOut(ev.cause), OutcomeAbandoned))
			return nil
		}
		c.rec.Outcome = cmpOr(timedOut(ev.cause), c.rec.Outcome)
	case shutdownEvent:
		if p.next != nil {
			c.setOutcome(outcomeFromCause(ev.cause, OutcomeShutdown))
			return nil
		}
		c.rec.Outcome = cmpOr(timedOut(ev.cause), c.rec.Outcome)
	}
	return nil // the caller's keys are the agent's business; a hang-up or stop ends the call
}

// agentKey takes one of the agent's key presses: a transfer code's next key, a complete
// code (transferred or refused), or a key that is no code at all (forgotten).
func (p *bridgedPhase) agentKey(ctx context.Context, c *call, d media.Digit) error {
	x := p.transfers(c)
	if len(p.code) > 0 && d.At.Sub(p.codeAt) > agentTransferGap {
		p.code = p.code[:0] // a code left half-pressed
	}
	p.code, p.codeAt = append(p.code, d.Key), d.At
	verdict, target := x.match(string(p.code))
	switch verdict {
	case codeMore:
		return nil
	case codeNone:
		p.code = p.code[:0]
		if v, _ := x.match(string(d.Key)); v == codeMore { // this key may start a code
			p.code = append(p.code, d.Key)
		}
		return nil
	}
	p.code = p.code[:0]
	tr := AgentTransfer{Agent: p.agent.id, From: p.queue, At: c.e.now()}
	switch verdict {
	case codeRefused:
		tr.Refused = target
		c.rec.AgentTransfers = append(c.rec.AgentTransfers, tr)
		c.publish()
		c.e.log.Info("agent transfer refused", "call_id", c.rec.CallID, "agent", p.agent.id, "reason", target)
		return nil // the call stays bridged
	case codeQueue:
		tr.Queue = target
		p.next = newHoldPhase(target, x.priority)
	case codeNumber:
		tr.Number = target
		// A number that is busy, does not answer or cannot be reached puts the caller back
		// in the queue the agent took them from (the menu phase joins it at once: a fresh
		// machine has nothing to say about a failed transfer).
		back := newMenuPhase(c.menu)
		back.enqueue = &menus.Enqueue{Queue: p.queue, Priority: x.priority}
		p.next = newTransferPhase(menus.Transfer{Number: target, Timeout: agentTransferTimeout,
			Trunk: cmpOr(x.trunk, c.e.dispatch.cfgs[p.queue].CallbackTrunk)}, back)
	}
	c.rec.AgentTransfers = append(c.rec.AgentTransfers, tr)
	c.e.log.Info("agent transfer", "call_id", c.rec.CallID, "agent", p.agent.id, "queue", tr.Queue, "number", tr.Number)
	if p.rec != nil {
		p.rec.Outcome = OutcomeTransferred
	}
	c.rec.Outcome = "" // decided again where the caller goes
	p.release(ctx, c)
	c.playNamed(c.sysPrompt(promptConnecting))
	if verdict == codeNumber || c.playing == 0 {
		return c.to(ctx, p.next) // a number rings while "connecting" plays
	}
	return nil
}

// leave unbridges, hangs up the agent if still there, releases its media and frees the
// agent in its queues (wrap-up, then ready).
func (p *bridgedPhase) leave(ctx context.Context, c *call) { p.release(ctx, c) }

// release lets the agent go, once: the forwarder ends, the legs are unbridged, the agent's
// leg is hung up and its record finished, and the agent is freed (wrap-up, then ready).
func (p *bridgedPhase) release(ctx context.Context, c *call) {
	if p.released {
		return
	}
	p.released = true
	if p.quit != nil {
		close(p.quit)
		<-p.fwdDone
		if c.queued == p.wake {
			c.queued = nil
		}
	}
	if p.stop != nil {
		p.stop()
	}
	c.peer = nil
	select {
	case <-p.agent.leg.Done():
	default:
		hangupBounded(ctx, p.agent.leg) // the caller waits for it: bounded
	}
	p.agent.close()
	c.e.dispatch.completed(p.queue, p.agent.id, p.entry)
	if p.rec != nil {
		c.e.metrics.callsActive.Dec()
		c.e.finish(p.rec, nil)
	}
}
