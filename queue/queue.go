package queue

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Errors callers branch on.
var (
	// ErrFull: the queue holds MaxLength callers on the line.
	ErrFull = errors.New("queue full")
	// ErrNoAgents: no agent is logged in and the policy refuses callers.
	ErrNoAgents = errors.New("no agents logged in")
	// ErrNotFound: no such entry or agent.
	ErrNotFound = errors.New("not found")
	// ErrStale: the event answers an offer that no longer stands (the ring
	// was stopped, the entry left, the dial was not asked for). The
	// dispatcher releases whatever leg it holds.
	ErrStale = errors.New("stale event")
	// ErrAgentBusy: the agent is serving or reserved for one of this
	// queue's callers; report Completed or DialResult first.
	ErrAgentBusy = errors.New("agent busy with this queue")
)

// LeaveReason says why an entry leaves the queue without being served.
type LeaveReason uint8

// Leave reasons.
const (
	// LeaveAbandoned: the caller hung up while waiting. Their place is
	// kept for AbandonWindow, keyed by CallerID.
	LeaveAbandoned LeaveReason = iota + 1
	// LeaveExited: the caller left by choice (declined a callback under
	// ReasonNoAgents, pressed a key that leads elsewhere).
	LeaveExited
	// LeaveCanceled: a callback was canceled (admin API) or ended outside
	// the queue.
	LeaveCanceled
)

// estimateWindow is how many recent service times the estimate averages.
const estimateWindow = 50

// Entry is one caller in a queue: on the line, or a callback that holds
// their place.
type Entry struct {
	// ID is unique within the queue: the call ID, or the stored
	// callback's ID.
	ID string `json:"id"`
	// CallerID is the caller's number; it keys the abandoned place.
	CallerID string `json:"caller_id"`
	// Priority: higher is served first.
	Priority int `json:"priority"`
	// Arrival is the original arrival time, which orders callers of equal
	// priority; zero means now. A callback keeps it.
	Arrival time.Time `json:"arrival"`
	// Callback marks a callback: its caller is not on the line.
	Callback bool `json:"callback"`
	// Attempts is how many times the callback's caller has been dialled.
	Attempts int `json:"attempts"`
	// Due is when the callback may next be dialled; zero means now.
	Due time.Time `json:"due"`
}

type entryState uint8

const (
	entryWaiting entryState = iota // waiting for an agent, or a callback waiting to be due
	entryRinging                   // agents ring for it
	entryDialing                   // a callback's caller is being dialled
)

type entry struct {
	Entry
	seq        uint64 // join order: the last tie-breaker
	line       bool   // the caller is on the line
	state      entryState
	rings      int                 // agents ringing for it
	tried      map[*agent]struct{} // agents that rang out or declined it
	reserved   *agent              // agent-first callback: the agent that answered
	offerAt    time.Time           // on the line: next callback offer
	announceAt time.Time           // on the line: next announcement
	held       bool                // an offer or announcement waits for a ring to end
	gone       bool                // left the queue: its timers are stale
}

// before orders entries: higher priority, then earlier arrival, then join
// order.
func before(a, b *entry) int {
	return cmp.Or(
		cmp.Compare(b.Priority, a.Priority),
		a.Arrival.Compare(b.Arrival),
		cmp.Compare(a.seq, b.seq),
	)
}

type abandoned struct {
	arrival  time.Time
	priority int
	expires  time.Time
}

type abandonRef struct {
	caller  string
	expires time.Time
}

// Queue is one hold queue: its callers, its agents and its policy. It is
// not safe for concurrent use: one goroutine (ivr's dispatcher) owns it
// (STYLE.md C6). Every method takes the current time; the queue never
// reads the clock.
//
// Events (Join, Leave, Callback, SetAgentState, Answered, Declined,
// DialResult, Completed) change state; Tick returns what the dispatcher
// must do. Call Tick after every event and at Next.
type Queue struct {
	cfg  Config
	intn func(n int) int

	entries map[string]*entry
	order   []*entry // sorted by before
	seq     uint64
	live    int // entries with their caller on the line

	agents    map[string]*agent
	agentList []*agent
	rr        int // round-robin: index of the agent rung last
	// Agent counters: loggedIn excludes logged-out; staffed also excludes
	// paused.
	loggedIn, staffed, ready, ringing int

	service    [estimateWindow]time.Duration // recent handling times, a ring
	serviceN   int
	serviceSum time.Duration

	abandoned map[string]abandoned
	abandonQ  []abandonRef // in expiry order

	outbox   []Decision // decisions made by events, returned by the next Tick
	timers   []timer    // min-heap of deadlines
	timerSeq uint64
	scratch  []*agent
}

// Option configures a Queue.
type Option func(*Queue)

// WithRand sets the source StrategyRandom draws from (default: the
// math/rand/v2 global source).
func WithRand(r *rand.Rand) Option {
	return func(q *Queue) { q.intn = r.IntN }
}

// New returns an empty queue with no agents. It fails when cfg does not
// validate.
func New(cfg Config, opts ...Option) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	q := &Queue{
		cfg:       cfg.withDefaults(),
		intn:      rand.IntN,
		entries:   make(map[string]*entry),
		agents:    make(map[string]*agent),
		abandoned: make(map[string]abandoned),
		rr:        -1,
	}
	for _, o := range opts {
		o(q)
	}
	return q, nil
}

// Config returns the queue's configuration with defaults filled in.
func (q *Queue) Config() Config { return q.cfg }

// Join adds a caller (or, with e.Callback, restores a stored callback) and
// returns KindQueued, or KindOfferCallback with ReasonEstimate when the
// estimated wait already exceeds MaxWait; either way the entry is queued.
// A caller whose number left the queue within AbandonWindow gets the old
// place back. Callers on the line are refused with ErrFull beyond
// MaxLength, and with ErrNoAgents while no agent is logged in under the
// refuse and leave-when-empty policies; callbacks are always accepted.
func (q *Queue) Join(e Entry, now time.Time) (Decision, error) {
	if e.ID == "" {
		return Decision{}, errors.New("join: entry without an ID")
	}
	if _, dup := q.entries[e.ID]; dup {
		return Decision{}, fmt.Errorf("join %s: already queued", e.ID)
	}
	if !e.Callback {
		if q.loggedIn == 0 && q.cfg.NoAgents != NoAgentsJoin {
			return Decision{}, ErrNoAgents
		}
		if q.cfg.MaxLength > 0 && q.live >= q.cfg.MaxLength {
			return Decision{}, ErrFull
		}
	}
	if e.Arrival.IsZero() {
		e.Arrival = now
	}
	resumed := false
	if ab, ok := q.abandoned[e.CallerID]; ok && !e.Callback && e.CallerID != "" {
		delete(q.abandoned, e.CallerID)
		if now.Before(ab.expires) {
			resumed = true
			if ab.arrival.Before(e.Arrival) {
				e.Arrival = ab.arrival
			}
			e.Priority = max(e.Priority, ab.priority)
		}
	}
	q.seq++
	n := &entry{Entry: e, seq: q.seq, line: !e.Callback}
	if n.line {
		q.live++
		n.offerAt = now.Add(q.cfg.MaxWait)
		n.announceAt = now.Add(q.cfg.AnnounceInterval)
		q.schedule(timerOffer, n.offerAt, n, nil)
		q.schedule(timerAnnounce, n.announceAt, n, nil)
	} else {
		if n.Due.IsZero() {
			n.Due = now
		}
		q.schedule(timerDue, n.Due, n, nil)
	}
	q.entries[e.ID] = n
	i, _ := slices.BinarySearchFunc(q.order, n, before)
	q.order = slices.Insert(q.order, i, n)

	d := Decision{Kind: KindQueued, Entry: e.ID, Position: i + 1, Wait: q.estimate(i + 1), Resumed: resumed}
	if n.line && d.Wait > q.cfg.MaxWait {
		d.Kind, d.Reason = KindOfferCallback, ReasonEstimate
	}
	return d, nil
}

// Leave removes an entry that will not be served: a caller who hung up
// (LeaveAbandoned keeps their place for AbandonWindow), left, or a callback
// canceled. Agents ringing for it, or reserved for it, are released with
// KindStopRing. It returns the entry as it was, for the store.
//
// A caller who accepted a callback (Queue.Callback) and then hangs up has
// not abandoned: the dispatcher does not report that hang-up.
func (q *Queue) Leave(id string, now time.Time, reason LeaveReason) (Entry, error) {
	e, ok := q.entries[id]
	if !ok {
		return Entry{}, fmt.Errorf("leave %s: %w", id, ErrNotFound)
	}
	q.release(e, now)
	q.remove(e)
	if reason == LeaveAbandoned && e.line && e.CallerID != "" {
		q.remember(e.CallerID, e.Arrival, e.Priority, now.Add(q.cfg.AbandonWindow))
	}
	return e.Entry, nil
}

// RestoreAbandoned gives the queue back an abandoned place saved in the
// store, after a restart.
func (q *Queue) RestoreAbandoned(callerID string, arrival time.Time, priority int, expires time.Time) {
	if callerID != "" {
		q.remember(callerID, arrival, priority, expires)
	}
}

func (q *Queue) remember(caller string, arrival time.Time, priority int, expires time.Time) {
	q.abandoned[caller] = abandoned{arrival: arrival, priority: priority, expires: expires}
	q.abandonQ = append(q.abandonQ, abandonRef{caller: caller, expires: expires})
}

// Callback turns a caller on the line into a callback that keeps their
// place (original arrival and priority). It becomes due after the
// callback's InitialDelay. The dispatcher stores it (and waits for the
// commit) before the caller hears the confirmation.
func (q *Queue) Callback(id string, now time.Time) (Entry, error) {
	e, ok := q.entries[id]
	if !ok {
		return Entry{}, fmt.Errorf("callback %s: %w", id, ErrNotFound)
	}
	if !e.line || e.Callback {
		return Entry{}, fmt.Errorf("callback %s: already a callback: %w", id, ErrStale)
	}
	q.release(e, now)
	e.line = false
	e.Callback = true
	q.live--
	e.Attempts = 0
	e.Due = now.Add(q.cfg.Callback.InitialDelay)
	e.offerAt, e.announceAt = time.Time{}, time.Time{}
	e.held = false
	q.schedule(timerDue, e.Due, e, nil)
	return e.Entry, nil
}

// SetAgentState records an agent's state change from outside the queue
// (login, logout, pause, ready, busy on another queue's call). An agent the
// queue has not seen starts logged out. AgentRinging and AgentWrapUp are
// the queue's own; setting them is an error. A ringing agent stops ringing
// (KindStopRing). An agent serving or reserved for one of this queue's
// callers returns ErrAgentBusy.
func (q *Queue) SetAgentState(id string, s AgentState, now time.Time) error {
	if id == "" {
		return errors.New("agent state: agent without an ID")
	}
	switch s {
	case AgentLoggedOut, AgentReady, AgentPaused, AgentBusy:
	default:
		return fmt.Errorf("agent %s: cannot set state %v", id, s)
	}
	a, ok := q.agents[id]
	if !ok {
		a = &agent{id: id, index: len(q.agentList), since: now}
		q.agents[id] = a
		q.agentList = append(q.agentList, a)
	}
	if !a.serviceStart.IsZero() || (a.entry != nil && a.state == AgentBusy) {
		if s == AgentBusy {
			return nil
		}
		return fmt.Errorf("agent %s: %w", id, ErrAgentBusy)
	}
	if a.state == AgentRinging {
		q.outbox = append(q.outbox, q.stopRing(a, ReasonAgentUnavailable, now))
	}
	if a.state == s {
		return nil
	}
	wasLoggedIn := q.loggedIn
	q.setState(a, s, now)
	a.until = time.Time{}
	if s == AgentReady {
		a.idle = now
	}
	if q.loggedIn == 0 && wasLoggedIn > 0 && q.cfg.NoAgents == NoAgentsLeaveWhenEmpty {
		for i, e := range q.order {
			if e.line {
				q.outbox = append(q.outbox, Decision{
					Kind: KindOfferCallback, Entry: e.ID, Reason: ReasonNoAgents,
					Position: i + 1, Wait: NoEstimate,
				})
			}
		}
	}
	return nil
}

// Answered records that an agent answered a ring. For a caller on the line
// the call is served from now: the entry leaves the queue and the agent is
// busy until Completed. For an agent-first callback the agent is reserved
// and the next Tick returns KindDial. With ring-all the other agents stop
// ringing. ErrStale when the ring no longer stands.
func (q *Queue) Answered(entryID, agentID string, now time.Time) error {
	e, a, err := q.ringPair(entryID, agentID)
	if err != nil {
		return fmt.Errorf("answered %s by %s: %w", entryID, agentID, err)
	}
	a.entry = nil
	e.rings--
	if e.rings > 0 {
		for _, o := range q.agentList {
			if o.state == AgentRinging && o.entry == e {
				q.outbox = append(q.outbox, q.stopRing(o, ReasonAnsweredElsewhere, now))
			}
		}
	}
	q.setState(a, AgentBusy, now)
	a.until = time.Time{}
	a.calls++
	if e.line {
		a.serviceStart = now
		q.remove(e)
		return nil
	}
	e.state = entryDialing
	e.reserved, a.entry = a, e
	e.Attempts++
	q.outbox = append(q.outbox, Decision{Kind: KindDial, Entry: e.ID, Agent: a.id, Callback: true})
	return nil
}

// Declined records that a ringing agent refused the call or could not be
// reached before the ring timeout; the caller is offered to the next agent.
// ErrStale when the ring no longer stands.
func (q *Queue) Declined(entryID, agentID string, now time.Time) error {
	e, a, err := q.ringPair(entryID, agentID)
	if err != nil {
		return fmt.Errorf("declined %s by %s: %w", entryID, agentID, err)
	}
	q.endRing(a, e, now)
	return nil
}

func (q *Queue) ringPair(entryID, agentID string) (*entry, *agent, error) {
	e, ok := q.entries[entryID]
	if !ok {
		return nil, nil, ErrStale
	}
	a, ok := q.agents[agentID]
	if !ok {
		return nil, nil, ErrNotFound
	}
	if a.state != AgentRinging || a.entry != e {
		return nil, nil, ErrStale
	}
	return e, a, nil
}

// DialResult reports the outcome of a KindDial. Answered: an agent-first
// callback is served from now (the entry leaves the queue); a
// customer-first caller is back on the line at their kept place, waiting
// for an agent. Not answered: the reserved agent is released, and the
// callback is due again at the returned time, or, after MaxAttempts, leaves
// the queue (zero time: record it as failed).
func (q *Queue) DialResult(id string, now time.Time, answered bool) (time.Time, error) {
	e, ok := q.entries[id]
	if !ok || e.state != entryDialing {
		return time.Time{}, fmt.Errorf("dial result %s: %w", id, ErrStale)
	}
	a := e.reserved
	e.reserved = nil
	e.state = entryWaiting
	if answered {
		if a != nil {
			a.entry = nil
			a.serviceStart = now
			q.remove(e)
			return time.Time{}, nil
		}
		e.line = true
		q.live++
		e.announceAt = now.Add(q.cfg.AnnounceInterval)
		q.schedule(timerAnnounce, e.announceAt, e, nil)
		return time.Time{}, nil
	}
	if a != nil {
		a.entry = nil
		q.setState(a, AgentReady, now)
		a.idle = now
	}
	if e.Attempts >= q.cfg.Callback.MaxAttempts {
		q.remove(e)
		return time.Time{}, nil
	}
	e.Due = now.Add(q.cfg.Callback.RetryDelay)
	q.schedule(timerDue, e.Due, e, nil)
	return e.Due, nil
}

// Postpone takes back a KindDial that was not placed (the engine was at its
// call limit): the dial does not count as an attempt, a reserved agent is
// released, and the callback is due again at until, keeping its place.
// ErrStale when the entry is not being dialled.
func (q *Queue) Postpone(id string, now, until time.Time) error {
	e, ok := q.entries[id]
	if !ok || e.state != entryDialing {
		return fmt.Errorf("postpone %s: %w", id, ErrStale)
	}
	if a := e.reserved; a != nil {
		e.reserved = nil
		a.entry = nil
		q.setState(a, AgentReady, now)
		a.idle = now
	}
	e.state = entryWaiting
	if e.Attempts > 0 {
		e.Attempts--
	}
	e.Due = until
	q.schedule(timerDue, e.Due, e, nil)
	return nil
}

// Completed records the end of an agent's call from this queue: its
// handling time feeds the estimate, and the agent goes to wrap-up (or
// straight to ready without WrapUp).
func (q *Queue) Completed(agentID string, now time.Time) error {
	a, ok := q.agents[agentID]
	if !ok {
		return fmt.Errorf("completed %s: %w", agentID, ErrNotFound)
	}
	if a.serviceStart.IsZero() {
		return fmt.Errorf("completed %s: not serving this queue: %w", agentID, ErrStale)
	}
	q.addService(now.Sub(a.serviceStart) + q.cfg.WrapUp)
	a.serviceStart = time.Time{}
	if q.cfg.WrapUp > 0 {
		q.setState(a, AgentWrapUp, now)
		a.until = now.Add(q.cfg.WrapUp)
		q.schedule(timerWrapUp, a.until, nil, a)
		return nil
	}
	q.setState(a, AgentReady, now)
	a.idle = now
	return nil
}

// Tick returns the decisions due at now: those the events since the last
// Tick made, ring timeouts, ends of wrap-up, callback offers at MaxWait,
// announcements, and new rings (and customer-first dials) for waiting
// callers while agents are ready.
func (q *Queue) Tick(now time.Time) []Decision {
	out := q.outbox
	q.outbox = nil
	out = q.fire(out, now)
	for len(q.abandonQ) > 0 && !now.Before(q.abandonQ[0].expires) {
		r := q.abandonQ[0]
		q.abandonQ[0] = abandonRef{}
		q.abandonQ = q.abandonQ[1:]
		if ab, ok := q.abandoned[r.caller]; ok && !now.Before(ab.expires) {
			delete(q.abandoned, r.caller)
		}
	}
	return q.match(out, now)
}

// match offers waiting entries, in order, to ready agents, and dials
// customer-first callbacks whose turn is near (position within the staffed
// agents).
func (q *Queue) match(out []Decision, now time.Time) []Decision {
	customerFirst := q.cfg.Callback.Mode == CallbackCustomerFirst
	for i := 0; i < len(q.order); i++ {
		if q.ready == 0 && (!customerFirst || i >= q.staffed) {
			break
		}
		e := q.order[i]
		if e.state != entryWaiting || !e.line && now.Before(e.Due) {
			continue
		}
		if !e.line && customerFirst {
			if i < q.staffed {
				e.state = entryDialing
				e.Attempts++
				out = append(out, Decision{Kind: KindDial, Entry: e.ID, Callback: true})
			}
			continue
		}
		if q.ready == 0 {
			continue
		}
		q.scratch = q.pick(q.scratch[:0], e)
		for _, a := range q.scratch {
			q.setState(a, AgentRinging, now)
			a.entry = e
			a.until = now.Add(q.cfg.RingTimeout)
			e.rings++
			e.state = entryRinging
			q.schedule(timerRing, a.until, nil, a)
			out = append(out, Decision{Kind: KindRing, Entry: e.ID, Agent: a.id, Callback: !e.line, Deadline: a.until})
		}
		clear(q.scratch)
	}
	return out
}

// stopRing ends a ring the queue gives up on and returns the KindStopRing.
func (q *Queue) stopRing(a *agent, reason Reason, now time.Time) Decision {
	e := a.entry
	d := Decision{Kind: KindStopRing, Entry: e.ID, Agent: a.id, Reason: reason}
	e.rings--
	if e.rings == 0 && e.state == entryRinging {
		e.state = entryWaiting
		q.unhold(e)
	}
	a.entry = nil
	a.until = time.Time{}
	q.setState(a, AgentReady, now)
	return d
}

// endRing ends a ring that went unanswered: the agent is ready again and
// is not offered e again while another agent is ready.
func (q *Queue) endRing(a *agent, e *entry, now time.Time) {
	if e.tried == nil {
		e.tried = make(map[*agent]struct{})
	}
	e.tried[a] = struct{}{}
	e.rings--
	if e.rings == 0 {
		e.state = entryWaiting
		q.unhold(e)
	}
	a.entry = nil
	a.until = time.Time{}
	q.setState(a, AgentReady, now)
}

// release stops the rings for e and frees its reserved agent.
func (q *Queue) release(e *entry, now time.Time) {
	if e.rings > 0 {
		for _, a := range q.agentList {
			if a.state == AgentRinging && a.entry == e {
				q.outbox = append(q.outbox, q.stopRing(a, ReasonEntryGone, now))
			}
		}
	}
	if a := e.reserved; a != nil {
		q.outbox = append(q.outbox, Decision{Kind: KindStopRing, Entry: e.ID, Agent: a.id, Reason: ReasonEntryGone})
		a.entry = nil
		e.reserved = nil
		q.setState(a, AgentReady, now)
		a.idle = now
	}
	e.state = entryWaiting
}

// remove takes e out of the queue.
func (q *Queue) remove(e *entry) {
	if i, ok := slices.BinarySearchFunc(q.order, e, before); ok {
		q.order = slices.Delete(q.order, i, i+1)
	}
	delete(q.entries, e.ID)
	e.gone = true
	if e.line {
		q.live--
	}
}

// Position returns the entry's place, 1 being next, counting every entry
// ahead of it: callers on the line and callbacks holding their place.
func (q *Queue) Position(id string) (int, bool) {
	e, ok := q.entries[id]
	if !ok {
		return 0, false
	}
	return q.position(e), true
}

func (q *Queue) position(e *entry) int {
	i, _ := slices.BinarySearchFunc(q.order, e, before)
	return i + 1
}

// EstimatedWait returns the entry's estimated wait, or NoEstimate while no
// agent is staffed; false for an unknown entry. The estimate is the
// entries ahead (callbacks included) beyond the agents ready or ringing,
// times the mean handling time of the last calls served (ServiceTime until
// there are some), divided by the staffed agents.
func (q *Queue) EstimatedWait(id string) (time.Duration, bool) {
	p, ok := q.Position(id)
	if !ok {
		return 0, false
	}
	return q.estimate(p), true
}

func (q *Queue) estimate(pos int) time.Duration {
	if q.staffed == 0 {
		return NoEstimate
	}
	ahead := pos - q.ready - q.ringing
	if ahead <= 0 {
		return 0
	}
	return time.Duration(int64(ahead) * int64(q.handlingTime()) / int64(q.staffed))
}

func (q *Queue) handlingTime() time.Duration {
	n := min(q.serviceN, estimateWindow)
	if n == 0 {
		return q.cfg.ServiceTime + q.cfg.WrapUp
	}
	return q.serviceSum / time.Duration(n)
}

func (q *Queue) addService(d time.Duration) {
	i := q.serviceN % estimateWindow
	if q.serviceN >= estimateWindow {
		q.serviceSum -= q.service[i]
	}
	q.service[i] = d
	q.serviceSum += d
	q.serviceN++
}

// EntryStatus is one entry in a Snapshot.
type EntryStatus struct {
	Entry
	Position int           `json:"position"`
	Wait     time.Duration `json:"wait_ns"` // estimate, or NoEstimate
	OnLine   bool          `json:"on_line"` // the caller is on the line (not a pending callback)
	Ringing  bool          `json:"ringing"` // agents ring for it
	Dialing  bool          `json:"dialing"` // a callback's caller is being dialled
}

// AgentStatus is one agent in a Snapshot.
type AgentStatus struct {
	ID    string     `json:"id"`
	State AgentState `json:"state"`
	Since time.Time  `json:"since"`           // last state change
	Calls int        `json:"calls"`           // calls answered from this queue
	Entry string     `json:"entry,omitempty"` // the entry it rings for, or is reserved for
}

// Snapshot is a queue's state for the admin API and metrics.
type Snapshot struct {
	Name      string        `json:"name"`
	OnLine    int           `json:"on_line"`   // callers waiting on the line
	Callbacks int           `json:"callbacks"` // callbacks holding a place
	LoggedIn  int           `json:"logged_in"`
	Staffed   int           `json:"staffed"` // logged in and not paused
	Ready     int           `json:"ready"`
	Entries   []EntryStatus `json:"entries"` // in queue order
	Agents    []AgentStatus `json:"agents"`  // in the order the queue first saw them
}

// Snapshot copies the queue's state.
func (q *Queue) Snapshot() Snapshot {
	s := Snapshot{
		Name: q.cfg.Name, OnLine: q.live, Callbacks: len(q.order) - q.live,
		LoggedIn: q.loggedIn, Staffed: q.staffed, Ready: q.ready,
		Entries: make([]EntryStatus, len(q.order)),
		Agents:  make([]AgentStatus, len(q.agentList)),
	}
	for i, e := range q.order {
		s.Entries[i] = EntryStatus{
			Entry: e.Entry, Position: i + 1, Wait: q.estimate(i + 1), OnLine: e.line,
			Ringing: e.state == entryRinging, Dialing: e.state == entryDialing,
		}
	}
	for i, a := range q.agentList {
		s.Agents[i] = AgentStatus{ID: a.id, State: a.state, Since: a.since, Calls: a.calls}
		if a.entry != nil {
			s.Agents[i].Entry = a.entry.ID
		}
	}
	return s
}
