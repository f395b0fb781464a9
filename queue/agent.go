package queue

import (
	"fmt"
	"time"
)

// AgentState is an agent's state as one queue sees it.
type AgentState uint8

// Agent states.
const (
	// AgentLoggedOut: not working; an agent the queue has not seen yet.
	AgentLoggedOut AgentState = iota
	// AgentReady: waiting for a call.
	AgentReady
	// AgentRinging: being offered a caller (set by the queue).
	AgentRinging
	// AgentBusy: on a call, from this queue or elsewhere.
	AgentBusy
	// AgentWrapUp: after a call, for WrapUp (set by the queue).
	AgentWrapUp
	// AgentPaused: logged in but taking no calls.
	AgentPaused
)

var agentStateNames = [...]string{"logged-out", "ready", "ringing", "busy", "wrap-up", "paused"}

// String returns the state's name as the admin API spells it, such as
// "wrap-up".
func (s AgentState) String() string {
	if int(s) < len(agentStateNames) {
		return agentStateNames[s]
	}
	return fmt.Sprintf("agent-state(%d)", uint8(s))
}

// MarshalText writes the state's name, as the admin API shows it.
func (s AgentState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ParseAgentState reads a state name as String writes it.
func ParseAgentState(name string) (AgentState, error) {
	for i, n := range agentStateNames {
		if n == name {
			return AgentState(i), nil
		}
	}
	return 0, fmt.Errorf("unknown agent state %q", name)
}

// agent is one agent as this queue sees it.
type agent struct {
	id    string
	index int // in Queue.agentList: round-robin order
	state AgentState
	since time.Time // last state change
	idle  time.Time // ready since: the end of the last call or wrap-up, or login
	calls int       // calls answered from this queue
	// entry is the entry the agent rings for (AgentRinging), or is
	// reserved for while its caller is dialled (agent-first callback).
	entry *entry
	// until is the ring deadline (AgentRinging) or the end of wrap-up.
	until time.Time
	// serviceStart is when the agent's call from this queue began; zero
	// when the agent is not serving one of this queue's callers.
	serviceStart time.Time
}

// pick appends to dst the ready agents the strategy offers e to: one agent,
// or every candidate for ring-all. Agents that already let e ring out or
// declined it are skipped while others are ready; when only they are left,
// e's history is forgotten and they are tried again.
func (q *Queue) pick(dst []*agent, e *entry) []*agent {
	if len(e.tried) > 0 && !q.readyUntried(e) {
		clear(e.tried)
	}
	ok := func(a *agent) bool {
		if a.state != AgentReady {
			return false
		}
		_, tried := e.tried[a]
		return !tried
	}
	switch q.cfg.Strategy {
	case StrategyRingAll:
		for _, a := range q.agentList {
			if ok(a) {
				dst = append(dst, a)
			}
		}
	case StrategyRoundRobin:
		n := len(q.agentList)
		for k := 1; k <= n; k++ {
			if a := q.agentList[(q.rr+k)%n]; ok(a) {
				q.rr = a.index
				return append(dst, a)
			}
		}
	case StrategyFewestCalls:
		var best *agent
		for _, a := range q.agentList {
			if ok(a) && (best == nil || a.calls < best.calls || a.calls == best.calls && a.idle.Before(best.idle)) {
				best = a
			}
		}
		if best != nil {
			dst = append(dst, best)
		}
	case StrategyRandom:
		start := len(dst)
		for _, a := range q.agentList {
			if ok(a) {
				dst = append(dst, a)
			}
		}
		if n := len(dst) - start; n > 0 {
			a := dst[start+q.intn(n)]
			dst = append(dst[:start], a)
		}
	default: // StrategyLongestIdle
		var best *agent
		for _, a := range q.agentList {
			if ok(a) && (best == nil || a.idle.Before(best.idle)) {
				best = a
			}
		}
		if best != nil {
			dst = append(dst, best)
		}
	}
	return dst
}

// readyUntried reports whether a ready agent has not yet rung out for e.
func (q *Queue) readyUntried(e *entry) bool {
	for _, a := range q.agentList {
		if a.state == AgentReady {
			if _, tried := e.tried[a]; !tried {
				return true
			}
		}
	}
	return false
}

// setState moves a to s and keeps the agent counters.
func (q *Queue) setState(a *agent, s AgentState, now time.Time) {
	q.count(a.state, -1)
	a.state, a.since = s, now
	q.count(s, +1)
}

func (q *Queue) count(s AgentState, d int) {
	switch s {
	case AgentLoggedOut:
		return
	case AgentReady:
		q.ready += d
	case AgentRinging:
		q.ringing += d
	}
	q.loggedIn += d
	if s != AgentPaused {
		q.staffed += d
	}
}
