package ivr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hotline-ivr/hotline/queue"
	"github.com/hotline-ivr/hotline/queue/store"
	"github.com/hotline-ivr/hotline/sip"
)

// QueueConfig is one hold queue: the queue logic's settings plus what the call needs.
type QueueConfig struct {
	queue.Config `mapstructure:",squash"`
	// Music is the prompt looped while callers wait; default the system prompt "moh".
	Music string `mapstructure:"music"`
	// CallbackTrunk is the sip.trunks entry that dials callbacks (the caller's number is
	// dialled through it, and through its sip.trunks[].failover list when it is down or
	// fails); empty: the number is dialled as a SIP target directly.
	CallbackTrunk string `mapstructure:"callback_trunk"`
}

// AgentConfig is one human agent.
type AgentConfig struct {
	ID string `mapstructure:"id"`
	// User is the agent's account on Hotline's registrar (sip.registrar.accounts): the
	// agent is ready while its softphone is registered.
	User string `mapstructure:"user"`
	// URI is a static SIP URI for an agent that does not register; ready from the start.
	URI    string   `mapstructure:"uri"`
	Queues []string `mapstructure:"queues"`
}

// ValidateQueues checks queues and agents together, naming config keys.
func ValidateQueues(queues map[string]QueueConfig, agents []AgentConfig) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(queues)) {
		c := queues[name].Config
		c.Name = name
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	seen := map[string]bool{}
	for i, a := range agents {
		if a.ID == "" {
			errs = append(errs, fmt.Errorf("agents.%d.id: required", i))
		} else if seen[a.ID] {
			errs = append(errs, fmt.Errorf("agents.%d.id: %q appears twice", i, a.ID))
		}
		seen[a.ID] = true
		if (a.User == "") == (a.URI == "") {
			errs = append(errs, fmt.Errorf("agents.%d: give a registrar user or a static uri, not both", i))
		}
		for j, q := range a.Queues {
			if _, ok := queues[q]; !ok {
				errs = append(errs, fmt.Errorf("agents.%d.queues.%d: unknown queue %q", i, j, q))
			}
		}
	}
	return errors.Join(errs...)
}

// Errors the admin API maps to status codes.
var (
	errUnknownAgent  = errors.New("no such agent")
	errNotReachable  = errors.New("the agent's phone is not registered: it cannot be rung")
	errStopped       = errors.New("the queue dispatcher has stopped")
	errInvalidChange = errors.New("invalid agent state change")
	errCanceled      = errors.New("the callback was canceled")
	errOnTheLine     = errors.New("the callback's customer is on the line now")
)

// holdEvent is what the dispatcher tells a waiting caller's goroutine.
type holdEvent struct {
	kind     queue.Kind // KindAnnounce, KindOfferCallback, or 0 for a connected agent
	position int
	wait     time.Duration
	agent    *peer // set when an agent answered
}

type agentInfo struct {
	cfg        AgentConfig
	registered bool
	busy       bool
	restUntil  time.Time // after a ring that failed: not rung again before then
	// after is a state asked for during a call (pause after this call, log out), taken
	// when the call ends; hasAfter says one is pending.
	after    queue.AgentState
	hasAfter bool
}

// entry is the dispatcher's state of one queue entry, beside what the queue keeps.
type entry struct {
	queue    string
	callerID string         // shown to the agent
	events   chan holdEvent // to the call waiting on the line; nil while it is not
	cbID     int64          // stored callback, 0 when none
	reserved *peer          // agent-first callback: the agent who answered and waits

	cancelDial func() // a callback dial in flight: an admin cancel stops it
	dialAgent  string // the agent waiting on the line for that dial (agent-first)
	canceling  bool   // an admin cancel is under way: an answer now is not taken
}

// ringState is one ring in progress; seq tells a ring from a later one for the same pair.
type ringState struct {
	cancel context.CancelFunc
	seq    uint64
}

// DispatchConfig tunes the queue dispatcher's own timers (the queues' are in QueueConfig).
// Zero values mean the defaults.
type DispatchConfig struct {
	// RingRest: an agent who declined, failed or did not answer is not rung again for this
	// long (Asterisk's queue "retry"); default 5s.
	RingRest time.Duration `mapstructure:"ring_rest"`
	// CallbackRing is how long a callback's customer is rung; default 60s.
	CallbackRing time.Duration `mapstructure:"callback_ring"`
	// CallbackLease is a callback attempt's lease in the store, renewed while the customer
	// waits; after a crash the attempt is taken over once it runs out. Default 2m.
	CallbackLease time.Duration `mapstructure:"callback_lease"`
	// CallbackPostpone: a callback not dialled because of max_calls is due again after
	// this; default 10s.
	CallbackPostpone time.Duration `mapstructure:"callback_postpone"`
}

// Validate reports every problem, naming the config key.
func (c DispatchConfig) Validate() error {
	var errs []error
	for _, f := range []struct {
		key string
		d   time.Duration
	}{{"ring_rest", c.RingRest}, {"callback_ring", c.CallbackRing}, {"callback_lease", c.CallbackLease}, {"callback_postpone", c.CallbackPostpone}} {
		if f.d < 0 {
			errs = append(errs, fmt.Errorf("dispatch.%s: must not be negative", f.key))
		}
	}
	if c.CallbackLease > 0 && c.CallbackLease < 3*time.Second {
		errs = append(errs, errors.New("dispatch.callback_lease: at least 3s (it is renewed every third of it)"))
	}
	return errors.Join(errs...)
}

func (c DispatchConfig) timings() dispatchTimings {
	t := defaultTimings
	if c.RingRest > 0 {
		t.ringRest = c.RingRest
	}
	if c.CallbackRing > 0 {
		t.customerRing = c.CallbackRing
	}
	if c.CallbackLease > 0 {
		t.lease = c.CallbackLease
	}
	if c.CallbackPostpone > 0 {
		t.shedBackoff = c.CallbackPostpone
	}
	return t
}

// Timings of the dispatcher (DispatchConfig with its defaults applied).
type dispatchTimings struct {
	ringRest     time.Duration // an agent who declined, failed or did not answer is left alone this long (Asterisk's queue "retry")
	customerRing time.Duration // how long a callback's customer is rung
	lease        time.Duration // a callback attempt's lease in the store, renewed while the customer waits
	shedBackoff  time.Duration // a callback not dialled at the call limit is due again after this
}

var defaultTimings = dispatchTimings{ringRest: 5 * time.Second, customerRing: 60 * time.Second,
	lease: 2 * time.Minute, shedBackoff: 10 * time.Second}

// dispatcher owns every queue.Queue (STYLE.md C6): one goroutine runs all queue logic; calls
// and the goroutines it starts talk to it through reqs. Every goroutine it starts is
// tracked in wg; every request gives up when the dispatcher has stopped (done).
//
// A graceful stop (the server's context ends): rings are canceled, agents answered for a
// callback are hung up, and every caller still waiting on the line keeps their place for
// the queue's abandon_window, written to the store in one transaction, so that calling back
// after the restart resumes it. Callers' goroutines that ask anything after that get
// errStopped at once.
type dispatcher struct {
	e       *Engine
	queues  map[string]*queue.Queue
	cfgs    map[string]QueueConfig
	plans   map[string]queue.DialPlan // each queue's callback dial plan, compiled once
	agents  map[string]*agentInfo
	byUser  map[string]string
	entries map[string]*entry
	rings   map[string]ringState // entry ID + "\x00" + agent ID
	ringSeq uint64
	dialer  legDialer
	cbs     callbackStore // nil: no store (callbacks are not offered durably)
	places  placeStore    // nil: abandoned places are kept in memory only
	owner   string        // this node's name in callback leases
	timing  dispatchTimings

	contacts contactLister // the registrar, when the dialer is one
	codes    map[string]queue.AgentState
	xfer     agentTransfers // the codes a bridged agent transfers the caller with
	reqs     chan func(now time.Time)
	done     chan struct{} // closed when run has returned
	wg       sync.WaitGroup
	log      *slog.Logger
}

// EnableQueues turns hold queues on; the dispatcher runs until ctx ends (then Close waits
// for it). dialer places agent and callback calls. Registered agents become ready through
// AgentRegistered.
func (e *Engine) EnableQueues(ctx context.Context, queues map[string]QueueConfig, agents []AgentConfig, codes AgentCodesConfig, dialer Dialer) error {
	d, err := e.newDispatcher(queues, agents, codes, &rtpDialer{e: e, sip: dialer})
	if err != nil {
		return err
	}
	d.contacts, _ = dialer.(contactLister)
	return d.start(ctx)
}

func (e *Engine) newDispatcher(queues map[string]QueueConfig, agents []AgentConfig, codes AgentCodesConfig, dialer legDialer) (*dispatcher, error) {
	if err := ValidateQueues(queues, agents); err != nil {
		return nil, err
	}
	d := &dispatcher{
		e: e, queues: map[string]*queue.Queue{}, cfgs: queues, agents: map[string]*agentInfo{},
		byUser: map[string]string{}, entries: map[string]*entry{}, rings: map[string]ringState{},
		dialer: dialer, cbs: e.callbacks, places: e.places, owner: e.node, timing: e.timings,
		reqs: make(chan func(time.Time)), done: make(chan struct{}), log: e.log, codes: codes.states(),
		plans: map[string]queue.DialPlan{},
	}
	var err error
	if d.xfer, err = codes.transfers(queues); err != nil {
		return nil, err
	}
	for name, qc := range queues {
		d.plans[name] = qc.Callback.DialPlan()
		c := qc.Config
		c.Name = name
		q, err := queue.New(c)
		if err != nil {
			return nil, err
		}
		d.queues[name] = q
	}
	now := e.now()
	for _, a := range agents {
		d.agents[a.ID] = &agentInfo{cfg: a}
		if a.User != "" {
			d.byUser[a.User] = a.ID
		}
		for _, qn := range a.Queues {
			st := queue.AgentLoggedOut
			if a.URI != "" {
				st = queue.AgentReady
			}
			d.queues[qn].SetAgentState(a.ID, st, now)
		}
	}
	return d, nil
}

// start restores the stored callbacks and places and runs the dispatcher until ctx ends.
func (d *dispatcher) start(ctx context.Context) error {
	if err := d.restore(ctx, d.e.now()); err != nil {
		return err
	}
	d.e.dispatch = d
	d.e.bg.Add(1)
	go func() {
		defer d.e.bg.Done()
		d.run(ctx)
		d.wg.Wait() // rings, dials, callback calls and store writes end with the server's context
	}()
	return nil
}

// spawn runs f on a tracked goroutine.
func (d *dispatcher) spawn(f func()) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f()
	}()
}

// restore puts every stored live callback back in its queue at its kept place (after a
// restart or a crash), and every kept place of a caller who hung up. A callback whose dial
// was cut short by a crash is claimable again once its lease runs out.
func (d *dispatcher) restore(ctx context.Context, now time.Time) error {
	if d.cbs != nil {
		cbs, err := d.cbs.ListCallbacks(ctx, store.CallbackFilter{States: []store.CallbackState{
			store.CallbackPending, store.CallbackClaimed, store.CallbackDialing}})
		if err != nil {
			return fmt.Errorf("restore callbacks: %w", err)
		}
		n := 0
		for _, cb := range cbs {
			q, ok := d.queues[cb.Queue]
			if !ok {
				d.log.Warn("stored callback for a queue no longer configured; kept in the store", "id", cb.ID, "queue", cb.Queue)
				continue
			}
			if err := d.checkTarget(cb.Queue, cb.CallerNumber); err != nil {
				// Stored before the dial plan said otherwise (an upgrade, a config change):
				// never dialled, and no agent is rung for it.
				d.refuseStored(ctx, cb, err, now)
				continue
			}
			id := cmpOr(cb.CallID, fmt.Sprint("callback-", cb.ID))
			due := cb.NextAttemptAt
			if cb.LeaseUntil.After(due) {
				due = cb.LeaseUntil // a dial in progress when the server stopped: not before its lease ends
			}
			if _, err := q.Join(queue.Entry{ID: id, CallerID: cb.CallerNumber, Priority: cb.Priority,
				Arrival: cb.Arrival, Callback: true, Attempts: cb.Attempts, Due: due}, now); err != nil {
				d.log.Warn("stored callback not restored", "id", cb.ID, "err", err)
				continue
			}
			d.entries[id] = &entry{queue: cb.Queue, callerID: cb.CallerNumber, cbID: cb.ID}
			n++
		}
		if n > 0 {
			d.log.Info("callbacks restored", "count", n)
		}
	}
	if d.places != nil {
		for name, q := range d.queues {
			abs, err := d.places.ListAbandoned(ctx, name, now)
			if err != nil {
				return fmt.Errorf("restore abandoned places: %w", err)
			}
			for _, a := range abs {
				q.RestoreAbandoned(a.Caller, a.Arrival, a.Priority, a.Expires)
			}
		}
	}
	return nil
}

// do runs f on the dispatcher goroutine; false when the dispatcher has stopped and f will
// never run. The request channel is unbuffered: a send succeeds only when the dispatcher
// takes the request, so true means f runs.
func (d *dispatcher) do(f func(now time.Time)) bool {
	select {
	case <-d.done:
		return false
	default:
	}
	select {
	case d.reqs <- f:
		return true
	case <-d.done:
		return false
	}
}

// ask runs f on the dispatcher goroutine and returns its answer; errStopped when the
// dispatcher stopped before taking the request (then f never ran).
func ask[T any](d *dispatcher, f func(now time.Time) (T, error)) (T, error) {
	type res struct {
		v   T
		err error
	}
	r := make(chan res, 1)
	if !d.do(func(now time.Time) { v, err := f(now); r <- res{v, err} }) {
		var zero T
		return zero, errStopped
	}
	out := <-r // taken: the dispatcher runs f before it can stop
	return out.v, out.err
}

func (d *dispatcher) run(ctx context.Context) {
	defer close(d.done)
	t := time.NewTimer(0) // a first tick at once: restored callbacks may be due
	defer t.Stop()
	var lastGauges time.Time
	for {
		select {
		case f := <-d.reqs:
			f(d.e.now())
		case <-t.C:
		case <-ctx.Done():
			d.stop(ctx)
			return
		}
		now := d.e.now()
		next := d.wakeRested(now)
		for _, q := range d.queues {
			for _, dec := range q.Tick(now) {
				d.act(ctx, q, dec, now)
			}
			if n, ok := q.Next(); ok && n.Before(next) {
				next = n
			}
		}
		if now.Sub(lastGauges) >= time.Second {
			lastGauges = now
			d.gauges()
		}
		t.Reset(max(min(next.Sub(d.e.now()), time.Second), time.Millisecond))
	}
}

// stop ends the dispatcher's work on a graceful stop (see dispatcher).
func (d *dispatcher) stop(ctx context.Context) {
	for _, r := range d.rings {
		r.cancel()
	}
	now := d.e.now()
	var kept []store.Abandoned
	for _, id := range slices.Sorted(maps.Keys(d.entries)) {
		en := d.entries[id]
		if en.reserved != nil {
			d.release(en.reserved)
		}
		if en.events == nil || en.cbID != 0 {
			continue // a callback (waiting, or its customer on hold): the store keeps it
		}
		q := d.queues[en.queue]
		ent, err := q.Leave(id, now, queue.LeaveAbandoned)
		if err != nil || ent.CallerID == "" {
			continue
		}
		kept = append(kept, store.Abandoned{Queue: en.queue, Caller: ent.CallerID, Arrival: ent.Arrival,
			Priority: ent.Priority, Expires: now.Add(q.Config().AbandonWindow)})
	}
	clear(d.entries)
	if len(kept) > 0 && d.places != nil {
		d.spawn(func() {
			if err := d.places.SaveAbandoned(context.WithoutCancel(ctx), kept...); err != nil {
				d.log.Error("places of callers on hold not stored at stop", "count", len(kept), "err", err)
				return
			}
			d.log.Info("places of callers on hold kept", "count", len(kept))
		})
	}
}

// release hangs up an agent leg nobody will take, off the dispatcher goroutine (a BYE to a
// vanished phone can take 32 s).
func (d *dispatcher) release(p *peer) {
	d.spawn(func() {
		hangupBounded(context.Background(), p.leg)
		p.close()
	})
}

// wakeRested makes agents whose rest after a failed ring is over ready again, and returns
// when the next rest ends (or in an hour).
func (d *dispatcher) wakeRested(now time.Time) time.Time {
	next := now.Add(time.Hour)
	for id, a := range d.agents {
		if a.restUntil.IsZero() {
			continue
		}
		if now.Before(a.restUntil) {
			next = minTime(next, a.restUntil)
			continue
		}
		a.restUntil = time.Time{}
		if !a.busy && (a.cfg.URI != "" || a.registered) {
			d.setAll(id, queue.AgentReady, now)
		}
	}
	return next
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// gauges publishes every queue's waiting callers and agent states (at most once a second).
func (d *dispatcher) gauges() {
	m := d.e.metrics
	for name, q := range d.queues {
		sn := q.Snapshot()
		m.queueWaiting.WithLabelValues(name, "on_line").Set(float64(sn.OnLine))
		m.queueWaiting.WithLabelValues(name, "callback").Set(float64(sn.Callbacks))
		counts := map[queue.AgentState]int{}
		for _, a := range sn.Agents {
			counts[a.State]++
		}
		for st := queue.AgentLoggedOut; st <= queue.AgentPaused; st++ {
			m.queueAgents.WithLabelValues(name, st.String()).Set(float64(counts[st]))
		}
	}
}

// tell sends a waiting caller's goroutine an event; an agent nobody takes is released.
func (d *dispatcher) tell(qname, id string, ev holdEvent, now time.Time) {
	if en, ok := d.entries[id]; ok && en.events != nil {
		select {
		case en.events <- ev:
			return
		default:
			d.log.Warn("queue event dropped: caller not reading", "entry", id, "kind", ev.kind)
		}
	}
	if ev.agent != nil { // never leave an answered agent on a line nobody takes
		d.releaseAnswered(qname, ev.agent, now)
	}
}

func (d *dispatcher) act(ctx context.Context, q *queue.Queue, dec queue.Decision, now time.Time) {
	name := q.Config().Name
	switch dec.Kind {
	case queue.KindAnnounce, queue.KindOfferCallback:
		d.tell(name, dec.Entry, holdEvent{kind: dec.Kind, position: dec.Position, wait: dec.Wait}, now)
	case queue.KindRing:
		if a := d.agents[dec.Agent]; now.Before(a.restUntil) {
			// Matched again in the same tick that timed out its last ring: the rest set
			// it paused, and the queue stops this ring on its next tick. Never ring it.
			return
		}
		key := dec.Entry + "\x00" + dec.Agent
		if old, ok := d.rings[key]; ok {
			old.cancel()
		}
		rctx, cancel := context.WithDeadline(ctx, dec.Deadline)
		d.ringSeq++
		seq := d.ringSeq
		d.rings[key] = ringState{cancel: cancel, seq: seq}
		a := d.agents[dec.Agent]
		target := cmpOr(a.cfg.URI, a.cfg.User)
		callerID := ""
		if en, ok := d.entries[dec.Entry]; ok {
			callerID = en.callerID
		}
		d.spawn(func() { d.ring(rctx, seq, name, dec.Entry, dec.Agent, target, callerID, dec.Callback) })
	case queue.KindStopRing:
		if r, ok := d.rings[dec.Entry+"\x00"+dec.Agent]; ok {
			r.cancel()
			delete(d.rings, dec.Entry+"\x00"+dec.Agent)
			if dec.Reason == queue.ReasonRingTimeout {
				d.rest(dec.Agent, now)
			}
		}
		if en, ok := d.entries[dec.Entry]; ok && en.reserved != nil && en.reserved.id == dec.Agent {
			d.release(en.reserved)
			en.reserved = nil
			d.agentFree(dec.Agent, now)
		}
	case queue.KindDial:
		en := d.entries[dec.Entry]
		var agent *peer // nil for customer-first
		if en != nil {
			agent, en.reserved = en.reserved, nil
		}
		if (dec.Agent != "" && agent == nil) || en == nil || en.cbID == 0 || d.cbs == nil {
			q.DialResult(dec.Entry, now, false)
			return
		}
		cbID := en.cbID
		if agent != nil {
			en.dialAgent = agent.id // a cancel from now on keeps it out of the queues
		}
		d.spawn(func() { d.dialCallback(ctx, name, dec.Entry, cbID, agent) })
	}
}

// ring calls an agent on its own goroutine and reports back to the dispatcher.
func (d *dispatcher) ring(ctx context.Context, seq uint64, qname, id, agentID, target, callerID string, callback bool) {
	// The agent sees who is calling: the caller's number, under the queue's name.
	leg, err := d.dialer.dialLeg(ctx, agentID, target, sip.DialOptions{FromUser: cmpOr(callerID, "hotline"), FromDisplay: "Hotline queue"})
	ok := d.do(func(now time.Time) {
		key := id + "\x00" + agentID
		current := false
		if r, ok := d.rings[key]; ok && r.seq == seq {
			r.cancel()
			delete(d.rings, key)
			current = true
		}
		q := d.queues[qname]
		if err != nil {
			if !current {
				return // the queue already stopped this ring (timeout, caller gone, answered elsewhere)
			}
			d.log.Info("agent did not answer", "agent", agentID, "entry", id, "err", err)
			q.Declined(id, agentID, now)
			if errors.Is(err, sip.ErrNotRegistered) {
				d.agents[agentID].registered = false
				d.setAll(agentID, queue.AgentLoggedOut, now)
				return
			}
			d.rest(agentID, now)
			return
		}
		if !current {
			d.release(leg) // a late answer to a ring the queue already stopped
			return
		}
		if err := q.Answered(id, agentID, now); err != nil {
			d.release(leg) // the caller left, or another agent took the call
			return
		}
		a := d.agents[agentID]
		a.busy = true
		for _, other := range a.cfg.Queues {
			if other != qname {
				d.queues[other].SetAgentState(agentID, queue.AgentBusy, now)
			}
		}
		if callback {
			if en, ok := d.entries[id]; ok {
				en.reserved = leg // the queue now emits Dial for the customer
				return
			}
			d.releaseAnswered(qname, leg, now)
			return
		}
		d.tell(qname, id, holdEvent{agent: leg}, now)
	})
	if !ok && err == nil { // stopped meanwhile: nobody will take this agent
		leg.leg.Hangup(context.Background())
		leg.close()
	}
}

// rest keeps an agent from being rung for a while after a failed ring.
func (d *dispatcher) rest(agentID string, now time.Time) {
	a := d.agents[agentID]
	if a.busy || !a.restUntil.IsZero() {
		return
	}
	a.restUntil = now.Add(d.timing.ringRest)
	d.setAll(agentID, queue.AgentPaused, now)
}

// setAll sets an agent's state in every queue it serves.
func (d *dispatcher) setAll(agentID string, st queue.AgentState, now time.Time) {
	for _, qn := range d.agents[agentID].cfg.Queues {
		d.queues[qn].SetAgentState(agentID, st, now)
	}
}

// agentFree makes an agent available again in every queue it serves (a callback it was
// reserved for fell through, was postponed or canceled).
func (d *dispatcher) agentFree(agentID string, now time.Time) {
	a := d.agents[agentID]
	a.busy = false
	d.setAll(agentID, d.afterCall(a), now)
}

// idleState is the state of an agent with no call: ready, or logged out when its phone
// is gone.
func (d *dispatcher) idleState(a *agentInfo) queue.AgentState {
	if a.cfg.User != "" && !a.registered {
		return queue.AgentLoggedOut
	}
	return queue.AgentReady
}

// afterCall is the state an agent takes when its call ends: the one asked for during the
// call, if any (ready only if its phone is still there), else idle.
func (d *dispatcher) afterCall(a *agentInfo) queue.AgentState {
	st := d.idleState(a)
	if a.hasAfter {
		a.hasAfter = false
		if a.after != queue.AgentReady {
			st = a.after
		}
	}
	return st
}

// join puts a caller in a queue; the returned channel carries its hold events.
func (d *dispatcher) join(qname string, e queue.Entry) (chan holdEvent, queue.Decision, error) {
	ch := make(chan holdEvent, 8)
	dec, err := ask(d, func(now time.Time) (queue.Decision, error) {
		q, ok := d.queues[qname]
		if !ok {
			return queue.Decision{}, fmt.Errorf("no queue %q", qname)
		}
		dec, err := q.Join(e, now)
		if err != nil {
			return dec, err
		}
		d.entries[e.ID] = &entry{queue: qname, callerID: e.CallerID, events: ch}
		if dec.Resumed && d.places != nil {
			d.spawn(func() {
				if err := d.places.DeleteAbandoned(context.Background(), qname, e.CallerID); err != nil {
					d.log.Warn("resumed place not removed from the store", "queue", qname, "err", err)
				}
			})
		}
		return dec, nil
	})
	return ch, dec, err
}

// leave takes a caller out of its queue (hung up, or pressed the freeze key). An abandoned
// place is kept for abandon_window, in the store too.
func (d *dispatcher) leave(qname, id string, reason queue.LeaveReason) {
	d.do(func(now time.Time) {
		if en, ok := d.entries[id]; ok && en.cbID != 0 && reason == queue.LeaveAbandoned {
			reason = queue.LeaveCanceled // a callback's customer: the callback keeps the place, not an abandoned one
		}
		d.forget(qname, id, now)
		q, ok := d.queues[qname]
		if !ok {
			return
		}
		ent, err := q.Leave(id, now, reason)
		if err == nil && reason == queue.LeaveAbandoned && ent.CallerID != "" && d.places != nil {
			ab := store.Abandoned{Queue: qname, Caller: ent.CallerID, Arrival: ent.Arrival,
				Priority: ent.Priority, Expires: now.Add(q.Config().AbandonWindow)}
			d.spawn(func() {
				if err := d.places.SaveAbandoned(context.Background(), ab); err != nil {
					d.log.Warn("abandoned place not stored", "queue", qname, "caller", ab.Caller, "err", err)
				}
			})
		}
	})
}

// completed reports that an agent's call ended: the agent goes to wrap-up or ready.
func (d *dispatcher) completed(qname, agentID, id string) {
	d.do(func(now time.Time) {
		delete(d.entries, id)
		d.completeNow(qname, agentID, now)
	})
}

// completeNow ends an agent's call on the dispatcher goroutine: wrap-up (or ready) in
// qname, ready in its other queues; logged out if its phone went meanwhile, or the state
// asked for during the call.
func (d *dispatcher) completeNow(qname, agentID string, now time.Time) {
	a := d.agents[agentID]
	a.busy = false
	st := d.afterCall(a)
	for _, qn := range a.cfg.Queues {
		if qn == qname {
			d.queues[qn].Completed(agentID, now)
			if st != queue.AgentReady {
				d.queues[qn].SetAgentState(agentID, st, now)
			}
			continue
		}
		d.queues[qn].SetAgentState(agentID, st, now)
	}
}

// forget drops a caller's entry. An agent who answered just as the caller left (hung up,
// took a callback, pressed the freeze key) may already be waiting in its channel: that
// agent is hung up and freed, never left busy.
func (d *dispatcher) forget(qname, id string, now time.Time) {
	en, ok := d.entries[id]
	if !ok {
		return
	}
	delete(d.entries, id)
	d.drain(qname, en, now)
}

func (d *dispatcher) drain(qname string, en *entry, now time.Time) {
	for en.events != nil {
		select {
		case ev := <-en.events:
			if ev.agent != nil {
				d.releaseAnswered(qname, ev.agent, now)
			}
		default:
			en.events = nil
		}
	}
}

// releaseAnswered hangs up an agent leg whose caller is gone and frees the agent.
func (d *dispatcher) releaseAnswered(qname string, p *peer, now time.Time) {
	d.release(p)
	d.completeNow(qname, p.id, now)
}

// accepted turns a waiting caller into a callback (stored as cbID) that keeps their place.
// It fails, and changes nothing, when the caller is no longer waiting (an agent took the
// call a moment ago: its answer is in the caller's channel).
func (d *dispatcher) accepted(qname, id string, cbID int64) error {
	_, err := ask(d, func(now time.Time) (struct{}, error) {
		if _, err := d.queues[qname].Callback(id, now); err != nil {
			return struct{}{}, err
		}
		if en, ok := d.entries[id]; ok {
			d.drain(qname, en, now) // announcements that will not be heard
			en.cbID = cbID
		}
		return struct{}{}, nil
	})
	return err
}

// snapshot returns every queue's state, for the admin API.
func (d *dispatcher) snapshot() ([]queue.Snapshot, error) {
	return ask(d, func(time.Time) ([]queue.Snapshot, error) {
		out := []queue.Snapshot{}
		for _, name := range slices.Sorted(maps.Keys(d.queues)) {
			out = append(out, d.queues[name].Snapshot())
		}
		return out, nil
	})
}

// setAgentState is an explicit agent state change (admin API, feature code), applied in
// every queue the agent serves. A registrar agent whose phone is not registered cannot be
// made ready: it could not be rung. An agent on a call keeps it: the state is taken when
// the call ends (afterCall true), never half-applied in some queues.
func (d *dispatcher) setAgentState(id, state string) (afterCall bool, err error) {
	st, err := queue.ParseAgentState(state)
	if err != nil {
		return false, fmt.Errorf("%w: %w", errInvalidChange, err)
	}
	if st != queue.AgentReady && st != queue.AgentPaused && st != queue.AgentLoggedOut {
		return false, fmt.Errorf("%w: agent state %q is set by the queue itself; use ready, paused or logged-out", errInvalidChange, state)
	}
	return ask(d, func(now time.Time) (bool, error) {
		a, ok := d.agents[id]
		if !ok {
			return false, fmt.Errorf("%w: %q", errUnknownAgent, id)
		}
		if st == queue.AgentReady && a.cfg.User != "" && !a.registered {
			return false, fmt.Errorf("agent %q: %w", id, errNotReachable)
		}
		a.restUntil = time.Time{}
		if a.busy {
			a.after, a.hasAfter = st, true
			return true, nil
		}
		var errs []error
		for _, qn := range a.cfg.Queues {
			errs = append(errs, d.queues[qn].SetAgentState(id, st, now))
		}
		return false, errors.Join(errs...)
	})
}

// AgentRegistered tells the dispatcher that a registrar user's softphone came or went.
func (e *Engine) AgentRegistered(user string, registered bool) {
	d := e.dispatch
	if d == nil {
		return
	}
	d.do(func(now time.Time) {
		id, ok := d.byUser[user]
		if !ok {
			return
		}
		a := d.agents[id]
		a.registered = registered
		a.restUntil = time.Time{}
		if a.busy && registered {
			return // stays busy until its call ends
		}
		st := queue.AgentLoggedOut
		if registered {
			st = queue.AgentReady
		}
		d.setAll(id, st, now)
		d.log.Info("agent", "id", id, "state", st)
	})
}

// beginCancel starts an admin cancel: refused (errOnTheLine) when the callback's customer
// is on the line now; otherwise an answer from now on is treated as canceled, so that
// the check and the cancel are one step for the dial in flight. endCancel(false) undoes
// it when the store refused the cancel.
func (d *dispatcher) beginCancel(cbID int64) error {
	_, err := ask(d, func(time.Time) (struct{}, error) {
		for _, en := range d.entries {
			if en.cbID == cbID && en.events != nil {
				return struct{}{}, errOnTheLine
			}
		}
		for _, en := range d.entries {
			if en.cbID == cbID {
				en.canceling = true
			}
		}
		return struct{}{}, nil
	})
	if errors.Is(err, errStopped) {
		return nil // nothing will be dialled any more: the store decides
	}
	return err
}

// endCancel finishes an admin cancel: done, the callback leaves its queue (canceled);
// refused by the store, it goes on as before.
func (d *dispatcher) endCancel(cbID int64, done bool) {
	if done {
		d.canceled(cbID)
		return
	}
	d.do(func(time.Time) {
		for _, en := range d.entries {
			if en.cbID == cbID {
				en.canceling = false
			}
		}
	})
}

// canceled takes a callback canceled through the admin API out of its queue, so that no
// agent is rung for it; a dial in flight is stopped, and the agent waiting on the line for
// it stays out of every queue until it is released.
func (d *dispatcher) canceled(cbID int64) {
	d.do(func(now time.Time) {
		for id, en := range d.entries {
			if en.cbID != cbID || en.events != nil {
				continue
			}
			delete(d.entries, id)
			if en.cancelDial != nil {
				en.cancelDial()
			}
			d.queues[en.queue].Leave(id, now, queue.LeaveCanceled)
			if en.dialAgent != "" {
				d.setAll(en.dialAgent, queue.AgentBusy, now) // still on the line until released
			}
			if en.reserved != nil {
				d.releaseAnswered(en.queue, en.reserved, now)
			}
		}
	})
}
