package ivr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/media/sdp"
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
	// dialled through it); empty: the number is dialled as a SIP target directly.
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

// Dialer places outbound calls (agents, callbacks); *sip.Server is one.
type Dialer interface {
	Dial(ctx context.Context, target string, sdp []byte, o sip.DialOptions) (*sip.Call, error)
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

// holdEvent is what the dispatcher tells a waiting caller's goroutine.
type holdEvent struct {
	kind     queue.Kind // KindAnnounce, KindOfferCallback, or 0 for a connected agent
	position int
	wait     time.Duration
	reason   queue.Reason
	agent    *agentLeg // set when an agent answered
}

// agentLeg is an answered agent call with its media.
type agentLeg struct {
	id   string
	call *sip.Call
	sess *media.Session
	conn *net.UDPConn
	pool *media.PortPool
}

func (a *agentLeg) close() {
	a.sess.Close()
	a.pool.Release(a.conn)
}

type agentInfo struct {
	cfg        AgentConfig
	registered bool
	busy       bool
	resting    bool   // after a ring that failed: not rung again for ringRest
	explicit   uint64 // bumped by every explicit state change (admin API, feature code, registration)
}

// ringState is one ring in progress; seq tells a ring from a later one for the same pair.
type ringState struct {
	cancel context.CancelFunc
	seq    uint64
}

// ringRest is how long an agent who declined, failed or did not answer is left alone, so
// that a busy or broken phone is not rung in a loop (Asterisk's queue "retry").
const ringRest = 5 * time.Second

// dispatcher owns every queue.Queue (STYLE.md C6): one goroutine runs all queue logic; calls
// and ring goroutines talk to it through reqs.
type dispatcher struct {
	e        *Engine
	queues   map[string]*queue.Queue
	cfgs     map[string]QueueConfig
	agents   map[string]*agentInfo
	byUser   map[string]string
	waiters  map[string]chan holdEvent // entry ID (Call-ID) -> the caller's goroutine
	rings    map[string]ringState
	ringSeq  uint64
	callers  map[string]string    // entry ID -> caller ID, shown to the agent
	cbIDs    map[string]int64     // entry ID -> stored callback ID
	reserved map[string]*agentLeg // entry ID -> the agent answered for its callback
	dialer   Dialer
	contacts contactLister // the registrar, when the dialer is one
	codes    map[string]queue.AgentState
	reqs     chan func(now time.Time)
	log      *slog.Logger
}

// EnableQueues turns hold queues on; the dispatcher runs until ctx ends. dialer places
// agent calls. Registered agents become ready through AgentRegistered.
func (e *Engine) EnableQueues(ctx context.Context, queues map[string]QueueConfig, agents []AgentConfig, codes AgentCodesConfig, dialer Dialer) error {
	if err := ValidateQueues(queues, agents); err != nil {
		return err
	}
	d := &dispatcher{
		e: e, queues: map[string]*queue.Queue{}, cfgs: queues, agents: map[string]*agentInfo{},
		byUser: map[string]string{}, waiters: map[string]chan holdEvent{}, rings: map[string]ringState{}, callers: map[string]string{},
		cbIDs: map[string]int64{}, reserved: map[string]*agentLeg{},
		dialer: dialer, reqs: make(chan func(time.Time), 256), log: e.log, codes: codes.states(),
	}
	d.contacts, _ = dialer.(contactLister)
	for name, qc := range queues {
		c := qc.Config
		c.Name = name
		q, err := queue.New(c)
		if err != nil {
			return err
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
	if err := d.restoreCallbacks(ctx, now); err != nil {
		return err
	}
	e.dispatch = d
	go d.run(ctx)
	return nil
}

// restoreCallbacks puts every stored live callback back in its queue at its kept place
// (after a restart or a crash). A callback whose dial was cut short by a crash is claimable
// again once its lease runs out; the store records the interrupted attempt.
func (d *dispatcher) restoreCallbacks(ctx context.Context, now time.Time) error {
	st := d.e.store
	if st == nil {
		return nil
	}
	cbs, err := st.ListCallbacks(ctx, store.CallbackFilter{States: []store.CallbackState{
		store.CallbackPending, store.CallbackClaimed, store.CallbackDialing}})
	if err != nil {
		return fmt.Errorf("restore callbacks: %w", err)
	}
	for _, cb := range cbs {
		q, ok := d.queues[cb.Queue]
		if !ok {
			d.log.Warn("stored callback for a queue no longer configured; kept in the store", "id", cb.ID, "queue", cb.Queue)
			continue
		}
		id := cb.CallID
		if id == "" {
			id = fmt.Sprint("callback-", cb.ID)
		}
		due := cb.NextAttemptAt
		if cb.LeaseUntil.After(due) {
			due = cb.LeaseUntil // a dial in progress when the server stopped: not before its lease ends
		}
		if _, err := q.Join(queue.Entry{ID: id, CallerID: cb.CallerNumber, Priority: cb.Priority,
			Arrival: cb.Arrival, Callback: true, Attempts: cb.Attempts, Due: due}, now); err != nil {
			d.log.Warn("stored callback not restored", "id", cb.ID, "err", err)
			continue
		}
		d.cbIDs[id] = cb.ID
	}
	if len(d.cbIDs) > 0 {
		d.log.Info("callbacks restored", "count", len(d.cbIDs))
	}
	for name, q := range d.queues {
		abs, err := st.ListAbandoned(ctx, name, now)
		if err != nil {
			return fmt.Errorf("restore abandoned places: %w", err)
		}
		for _, a := range abs {
			q.RestoreAbandoned(a.Caller, a.Arrival, a.Priority, a.Expires)
		}
	}
	return nil
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
		a.explicit++
		st := queue.AgentLoggedOut
		if registered {
			st = queue.AgentReady
		}
		if a.busy && registered {
			return // stays busy until its call ends
		}
		for _, qn := range a.cfg.Queues {
			d.queues[qn].SetAgentState(id, st, now)
		}
		d.log.Info("agent", "id", id, "state", st)
	})
}

// do runs f on the dispatcher goroutine.
func (d *dispatcher) do(f func(now time.Time)) { d.reqs <- f }

func (d *dispatcher) run(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var lastGauges time.Time
	for {
		select {
		case f := <-d.reqs:
			f(d.e.now())
		case <-t.C:
		case <-ctx.Done():
			for _, r := range d.rings {
				r.cancel()
			}
			for _, leg := range d.reserved {
				leg.call.Hangup(context.WithoutCancel(ctx))
				leg.close()
			}
			return
		}
		now := d.e.now()
		next := now.Add(time.Hour)
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

func (d *dispatcher) tell(qname, entry string, ev holdEvent, now time.Time) {
	ch, ok := d.waiters[entry]
	if ok {
		select {
		case ch <- ev:
			return
		default:
			d.log.Warn("queue event dropped: caller not reading", "entry", entry, "kind", ev.kind)
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
		d.tell(name, dec.Entry, holdEvent{kind: dec.Kind, position: dec.Position, wait: dec.Wait, reason: dec.Reason}, now)
	case queue.KindRing:
		key := dec.Entry + "\x00" + dec.Agent
		if old, ok := d.rings[key]; ok {
			old.cancel()
		}
		rctx, cancel := context.WithDeadline(ctx, dec.Deadline)
		d.ringSeq++
		d.rings[key] = ringState{cancel: cancel, seq: d.ringSeq}
		a := d.agents[dec.Agent]
		target := a.cfg.URI
		if target == "" {
			target = a.cfg.User
		}
		go d.ring(rctx, d.ringSeq, name, dec.Entry, dec.Agent, target, d.callers[dec.Entry], dec.Callback)
	case queue.KindStopRing:
		if r, ok := d.rings[dec.Entry+"\x00"+dec.Agent]; ok {
			r.cancel()
			delete(d.rings, dec.Entry+"\x00"+dec.Agent)
			if dec.Reason == queue.ReasonRingTimeout {
				d.rest(dec.Agent, now)
			}
		}
		if leg, ok := d.reserved[dec.Entry]; ok && leg.id == dec.Agent {
			delete(d.reserved, dec.Entry)
			go func() {
				leg.call.Hangup(context.WithoutCancel(ctx))
				leg.close()
			}()
			d.agentFree(dec.Agent, name, now)
		}
	case queue.KindDial:
		leg := d.reserved[dec.Entry] // nil for customer-first
		delete(d.reserved, dec.Entry)
		cbID, ok := d.cbIDs[dec.Entry]
		if (dec.Agent != "" && leg == nil) || !ok || d.e.store == nil {
			q.DialResult(dec.Entry, now, false)
			return
		}
		go d.dialCallback(ctx, name, dec.Entry, cbID, leg)
	}
}

// ring calls an agent on its own goroutine and reports back to the dispatcher.
func (d *dispatcher) ring(ctx context.Context, seq uint64, qname, entry, agentID, target, callerID string, callback bool) {
	leg, err := d.dialAgent(ctx, agentID, target, callerID)
	d.do(func(now time.Time) {
		key := entry + "\x00" + agentID
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
			d.log.Info("agent did not answer", "agent", agentID, "entry", entry, "err", err)
			q.Declined(entry, agentID, now)
			if errors.Is(err, sip.ErrNotRegistered) {
				d.agents[agentID].registered = false
				d.setAll(agentID, queue.AgentLoggedOut, now)
				return
			}
			d.rest(agentID, now)
			return
		}
		if !current {
			go func() { // a late answer to a ring the queue already stopped
				leg.call.Hangup(context.Background())
				leg.close()
			}()
			return
		}
		if err := q.Answered(entry, agentID, now); err != nil {
			// The caller left, or another agent took the call: release this one (off the
			// dispatcher goroutine: a BYE to a vanished phone can take 32 s).
			go func() {
				leg.call.Hangup(context.Background())
				leg.close()
			}()
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
			d.reserved[entry] = leg // the queue now emits Dial for the customer
			return
		}
		d.tell(qname, entry, holdEvent{agent: leg}, now)
	})
}

// rest keeps an agent from being rung for ringRest after a failed ring.
func (d *dispatcher) rest(agentID string, now time.Time) {
	a := d.agents[agentID]
	if a.busy || a.resting {
		return
	}
	a.resting = true
	gen := a.explicit
	d.setAll(agentID, queue.AgentPaused, now)
	time.AfterFunc(ringRest, func() {
		d.do(func(now time.Time) {
			a.resting = false
			if a.explicit == gen && !a.busy && (a.cfg.URI != "" || a.registered) {
				d.setAll(agentID, queue.AgentReady, now)
			}
		})
	})
}

// setAll sets an agent's state in every queue it serves.
func (d *dispatcher) setAll(agentID string, st queue.AgentState, now time.Time) {
	for _, qn := range d.agents[agentID].cfg.Queues {
		d.queues[qn].SetAgentState(agentID, st, now)
	}
}

// agentFree makes an agent available again in the queues other than qname (which tracks
// its own agent) after a reserved callback fell through.
func (d *dispatcher) agentFree(agentID, qname string, now time.Time) {
	a := d.agents[agentID]
	a.busy = false
	for _, qn := range a.cfg.Queues {
		if qn == qname {
			continue
		}
		st := queue.AgentReady
		if a.cfg.User != "" && !a.registered {
			st = queue.AgentLoggedOut
		}
		d.queues[qn].SetAgentState(agentID, st, now)
	}
}

// dialCallback dials a callback's caller and connects them to an agent. Agent-first (agent
// set): the agent already answered and waits on the line. Customer-first (agent nil): once
// the caller answers they wait at their kept place, hearing music, until an agent answers.
// Each attempt is claimed in the store under a lease, so that one callback is dialled by one
// dialler at a time, even across a crash.
func (d *dispatcher) dialCallback(ctx context.Context, qname, entry string, cbID int64, agent *agentLeg) {
	e := d.e
	owner := fmt.Sprint("hotline-", os.Getpid())
	const lease = 2 * time.Minute
	releaseAgent := func() {
		if agent != nil {
			agent.call.Hangup(context.WithoutCancel(ctx)) // the agent waited on the line for nothing
			agent.close()
		}
	}
	fail := func(outcome store.Outcome, err error) {
		d.log.Info("callback attempt failed", "callback", cbID, "outcome", outcome, "err", err)
		releaseAgent()
		d.do(func(now time.Time) {
			if agent != nil {
				d.agentFree(agent.id, qname, now)
			}
			retryAt, derr := d.queues[qname].DialResult(entry, now, false)
			if derr == nil {
				if _, err := e.store.CompleteAttempt(context.WithoutCancel(ctx), cbID, owner, now, outcome, retryAt); err != nil {
					d.log.Error("callback attempt not recorded", "callback", cbID, "err", err)
				}
				e.metrics.callbacks.WithLabelValues(string(outcome)).Inc()
				if retryAt.IsZero() {
					e.metrics.callbacks.WithLabelValues("failed").Inc()
				}
			}
		})
	}
	if _, err := e.store.ClaimCallback(ctx, cbID, owner, e.now(), lease); err != nil {
		releaseAgent()
		d.do(func(now time.Time) {
			if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrFinished) || errors.Is(err, store.ErrLeaseLost) {
				// Canceled, finished, or being dialled by another instance: not ours to dial.
				d.queues[qname].Leave(entry, now, queue.LeaveCanceled)
			} else {
				d.queues[qname].DialResult(entry, now, false)
			}
		})
		if agent != nil {
			d.completed(qname, agent.id, entry)
		}
		return
	}
	cb, err := e.store.StartAttempt(ctx, cbID, owner, e.now(), lease)
	if err != nil {
		fail(store.OutcomeError, err)
		return
	}
	cust, err := d.dialCustomer(ctx, qname, cb)
	if err != nil {
		outcome := store.OutcomeNoAnswer
		var rej *sip.RejectError
		if errors.As(err, &rej) && (rej.Code == 486 || rej.Code == 600) {
			outcome = store.OutcomeBusy
		}
		fail(outcome, err)
		return
	}
	defer cust.close()
	var events chan holdEvent
	if agent == nil {
		events = make(chan holdEvent, 8)
	}
	d.do(func(now time.Time) {
		if events != nil {
			d.waiters[entry] = events // back on the line at the kept place
		}
		if _, err := d.queues[qname].DialResult(entry, now, true); err != nil {
			d.log.Warn("callback answered but the queue disagrees", "callback", cbID, "err", err)
		}
		if _, err := e.store.CompleteAttempt(context.WithoutCancel(ctx), cbID, owner, now, store.OutcomeAnswered, time.Time{}); err != nil {
			d.log.Error("callback answered but not recorded", "callback", cbID, "err", err)
		}
		e.metrics.callbacks.WithLabelValues(string(store.OutcomeAnswered)).Inc()
	})
	if agent == nil {
		if agent = d.awaitAgent(ctx, qname, entry, cust, events); agent == nil {
			return
		}
	}
	defer agent.close()
	defer d.completed(qname, agent.id, entry)
	br, err := media.Bridge(ctx, agent.sess, cust.sess, media.BridgeConfig{})
	if err != nil {
		agent.call.Hangup(context.WithoutCancel(ctx))
		cust.call.Hangup(context.WithoutCancel(ctx))
		return
	}
	defer br.Unbridge()
	select {
	case <-agent.call.Done():
		cust.call.Hangup(context.WithoutCancel(ctx))
	case <-cust.call.Done():
		agent.call.Hangup(context.WithoutCancel(ctx))
	case <-ctx.Done():
		agent.call.Hangup(context.WithoutCancel(ctx))
		cust.call.Hangup(context.WithoutCancel(ctx))
	}
}

// awaitAgent holds a customer-first callback's caller on the line with music until an agent
// answers; nil when the caller hangs up first (they leave the queue) or the server stops.
func (d *dispatcher) awaitAgent(ctx context.Context, qname, entry string, cust *agentLeg, events chan holdEvent) *agentLeg {
	if moh := d.e.sys[cmpOr(d.cfgs[qname].Music, promptMusic)]; moh != nil {
		cust.sess.Loop(moh)
	}
	for {
		select {
		case ev := <-events:
			if ev.agent != nil {
				cust.sess.Stop()
				return ev.agent
			}
		case <-cust.call.Done():
			d.leave(qname, entry, queue.LeaveAbandoned)
			return nil
		case <-ctx.Done():
			cust.call.Hangup(context.WithoutCancel(ctx))
			return nil
		}
	}
}

// dialCustomer dials a callback's caller through the queue's callback trunk.
func (d *dispatcher) dialCustomer(ctx context.Context, qname string, cb store.Callback) (*agentLeg, error) {
	qc := d.cfgs[qname]
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return d.dialLeg(ctx, "callback", cb.CallerNumber, sip.DialOptions{
		Trunk: qc.CallbackTrunk, FromUser: cmpOr(qc.Callback.CallerID, "hotline"), FromDisplay: "Hotline callback"})
}

func (d *dispatcher) dialAgent(ctx context.Context, agentID, target, callerID string) (*agentLeg, error) {
	// The agent sees who is calling: the caller's number, under the queue's name.
	return d.dialLeg(ctx, agentID, target, sip.DialOptions{FromUser: cmpOr(callerID, "hotline"), FromDisplay: "Hotline queue"})
}

// dialLeg places an outbound call with its own RTP session.
func (d *dispatcher) dialLeg(ctx context.Context, agentID, target string, o sip.DialOptions) (*agentLeg, error) {
	e := d.e
	conn, err := e.pool.Listen()
	if err != nil {
		return nil, err
	}
	local := netip.AddrPortFrom(e.rtpIP, uint16(conn.LocalAddr().(*net.UDPAddr).Port))
	offer := sdp.Offer(sdp.OfferOptions{Addr: local, Codecs: e.cfg.Media.CodecNames(), DTMF: true, SessionID: uint64(e.now().UnixNano())})
	call, err := d.dialer.Dial(ctx, target, offer, o)
	if err != nil {
		e.pool.Release(conn)
		return nil, err
	}
	neg, err := sdp.ParseAnswer(call.RemoteSDP())
	if err != nil {
		call.Hangup(context.Background())
		e.pool.Release(conn)
		return nil, fmt.Errorf("agent %s answer: %w", agentID, err)
	}
	sess := media.NewSession(conn, media.SessionConfig{Codec: neg.Codec, DTMFPT: neg.DTMFPT, Remote: neg.Remote})
	sess.Start(context.WithoutCancel(ctx))
	return &agentLeg{id: agentID, call: call, sess: sess, conn: conn, pool: e.pool}, nil
}

// join puts a caller in a queue; the returned channel carries its hold events.
func (d *dispatcher) join(qname string, e queue.Entry) (chan holdEvent, queue.Decision, error) {
	type res struct {
		dec queue.Decision
		err error
	}
	ch := make(chan holdEvent, 8)
	r := make(chan res, 1)
	d.do(func(now time.Time) {
		q, ok := d.queues[qname]
		if !ok {
			r <- res{err: fmt.Errorf("no queue %q", qname)}
			return
		}
		dec, err := q.Join(e, now)
		if err == nil {
			d.waiters[e.ID] = ch
			d.callers[e.ID] = e.CallerID
			if dec.Resumed && d.e.store != nil {
				go d.e.store.DeleteAbandoned(context.Background(), qname, e.CallerID)
			}
		}
		r <- res{dec, err}
	})
	out := <-r
	return ch, out.dec, out.err
}

// leave takes a caller out of its queue (hung up, exited, or connected and done).
func (d *dispatcher) leave(qname, id string, reason queue.LeaveReason) {
	d.do(func(now time.Time) {
		d.dropWaiter(qname, id, now)
		q, ok := d.queues[qname]
		if !ok {
			return
		}
		ent, err := q.Leave(id, now, reason)
		if err == nil && reason == queue.LeaveAbandoned && ent.CallerID != "" && d.e.store != nil {
			// Keep the place across a restart too, for abandon_window.
			ab := store.Abandoned{Queue: qname, Caller: ent.CallerID, Arrival: ent.Arrival,
				Priority: ent.Priority, Expires: now.Add(q.Config().AbandonWindow)}
			go func() {
				if err := d.e.store.SaveAbandoned(context.Background(), ab); err != nil {
					d.log.Warn("abandoned place not stored", "queue", qname, "caller", ab.Caller, "err", err)
				}
			}()
		}
	})
}

// completed reports that an agent's call ended: the agent goes to wrap-up or ready.
func (d *dispatcher) completed(qname, agentID, entry string) {
	d.do(func(now time.Time) {
		delete(d.waiters, entry)
		d.completeNow(qname, agentID, now)
	})
}

// completeNow ends an agent's call on the dispatcher goroutine: wrap-up or ready in qname,
// ready (or logged out) in its other queues.
func (d *dispatcher) completeNow(qname, agentID string, now time.Time) {
	{
		a := d.agents[agentID]
		a.busy = false
		loggedOut := a.cfg.User != "" && !a.registered
		for _, qn := range a.cfg.Queues {
			if qn == qname {
				d.queues[qn].Completed(agentID, now)
				if loggedOut { // unregistered during the call
					d.queues[qn].SetAgentState(agentID, queue.AgentLoggedOut, now)
				}
				continue
			}
			st := queue.AgentReady
			if a.cfg.User != "" && !a.registered {
				st = queue.AgentLoggedOut
			}
			d.queues[qn].SetAgentState(agentID, st, now)
		}
	}
}

// dropWaiter forgets a caller's event channel. An agent who answered just as the caller
// left (hung up, took a callback, pressed the freeze key) may already be waiting in it:
// that agent is hung up and freed, never left busy.
func (d *dispatcher) dropWaiter(qname, id string, now time.Time) {
	ch, ok := d.waiters[id]
	delete(d.waiters, id)
	delete(d.callers, id)
	for ok {
		select {
		case ev := <-ch:
			if ev.agent != nil {
				d.releaseAnswered(qname, ev.agent, now)
			}
		default:
			ok = false
		}
	}
}

// releaseAnswered hangs up an agent leg whose caller is gone and frees the agent.
func (d *dispatcher) releaseAnswered(qname string, leg *agentLeg, now time.Time) {
	go func() {
		leg.call.Hangup(context.Background())
		leg.close()
	}()
	d.completeNow(qname, leg.id, now)
}

// accepted turns a waiting caller into a callback (stored as cbID) that keeps their place.
func (d *dispatcher) accepted(qname, id string, cbID int64) error {
	r := make(chan error, 1)
	d.do(func(now time.Time) {
		d.dropWaiter(qname, id, now)
		if cbID != 0 {
			d.cbIDs[id] = cbID
		}
		_, err := d.queues[qname].Callback(id, now)
		r <- err
	})
	return <-r
}

// snapshot returns every queue's state, for the admin API.
func (d *dispatcher) snapshot() []queue.Snapshot {
	r := make(chan []queue.Snapshot, 1)
	d.do(func(time.Time) {
		var out []queue.Snapshot
		for _, name := range slices.Sorted(maps.Keys(d.queues)) {
			out = append(out, d.queues[name].Snapshot())
		}
		r <- out
	})
	return <-r
}

// setAgentState is the admin API's agent state change, applied in every queue the agent serves.
func (d *dispatcher) setAgentState(id, state string) error {
	st, err := queue.ParseAgentState(state)
	if err != nil {
		return err
	}
	if st != queue.AgentReady && st != queue.AgentPaused && st != queue.AgentLoggedOut {
		return fmt.Errorf("agent state %q is set by the queue itself; use ready, paused or logged-out", state)
	}
	r := make(chan error, 1)
	d.do(func(now time.Time) {
		a, ok := d.agents[id]
		if !ok {
			r <- fmt.Errorf("no agent %q", id)
			return
		}
		a.explicit++
		var errs []error
		for _, qn := range a.cfg.Queues {
			errs = append(errs, d.queues[qn].SetAgentState(id, st, now))
		}
		r <- errors.Join(errs...)
	})
	return <-r
}

// canceled takes a callback canceled through the admin API out of its queue, so that no
// agent is rung for it.
func (d *dispatcher) canceled(cbID int64) {
	d.do(func(now time.Time) {
		for entry, id := range d.cbIDs {
			if id != cbID {
				continue
			}
			delete(d.cbIDs, entry)
			for _, q := range d.queues {
				q.Leave(entry, now, queue.LeaveCanceled)
			}
		}
	})
}
