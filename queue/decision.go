package queue

import (
	"strconv"
	"time"
)

// Kind is what a Decision asks the dispatcher to do.
type Kind uint8

// Decision kinds.
const (
	// KindQueued (from Join): the caller waits at Position, with the
	// estimated Wait; Resumed when an abandoned place was given back.
	KindQueued Kind = iota + 1
	// KindOfferCallback: offer the caller on the line a callback that
	// keeps their place ("press 1 to be called back"). Reason says why;
	// Position and Wait are for the announcement. Accepting is
	// Queue.Callback; declining needs no call (the offer repeats after
	// another MaxWait), except for ReasonNoAgents, where the caller must
	// take the callback or Leave.
	KindOfferCallback
	// KindRing: ring Agent for Entry until Deadline, then the queue stops
	// the ring itself (KindStopRing with ReasonRingTimeout). Report the
	// agent's answer with Queue.Answered, a refusal or failure with
	// Queue.Declined. Callback is set when the entry's caller is not on
	// the line (an agent-first callback): on answer the queue emits
	// KindDial.
	KindRing
	// KindStopRing: stop ringing Agent for Entry (Reason says why). For a
	// reserved agent (agent-first callback that left the queue while
	// dialling) it means release the agent's leg.
	KindStopRing
	// KindDial: dial the callback Entry's caller. Agent is the reserved
	// agent (agent-first, already answered) or "" (customer-first).
	// Report the outcome with Queue.DialResult. The attempt is counted.
	KindDial
	// KindAnnounce: tell the caller on the line their Position and Wait.
	KindAnnounce
)

var kindNames = [...]string{"", "queued", "offer-callback", "ring", "stop-ring", "dial", "announce"}

// String returns the kind's name, such as "offer-callback".
func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Reason says why an offer was made or a ring stopped.
type Reason uint8

// Reasons.
const (
	ReasonNone Reason = iota
	// ReasonMaxWait: the caller has waited MaxWait on the line.
	ReasonMaxWait
	// ReasonEstimate: on joining, the estimated wait already exceeds
	// MaxWait.
	ReasonEstimate
	// ReasonNoAgents: the last agent logged out (leave-when-empty).
	ReasonNoAgents
	// ReasonRingTimeout: the agent did not answer within RingTimeout.
	ReasonRingTimeout
	// ReasonAnsweredElsewhere: another agent answered (ring-all).
	ReasonAnsweredElsewhere
	// ReasonEntryGone: the entry left the queue or became a callback.
	ReasonEntryGone
	// ReasonAgentUnavailable: the agent logged out, paused or became busy.
	ReasonAgentUnavailable
)

var reasonNames = [...]string{"", "max-wait", "estimate", "no-agents", "ring-timeout", "answered-elsewhere", "entry-gone", "agent-unavailable"}

// String returns the reason's name, such as "max-wait".
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// NoEstimate is the wait reported while no agent is staffed: the queue
// cannot tell.
const NoEstimate time.Duration = -1

// Decision is one thing the dispatcher must do. Decisions are plain data;
// the fields a Kind does not use are zero.
type Decision struct {
	Kind     Kind
	Entry    string        // entry ID
	Agent    string        // agent ID (Ring, StopRing, Dial agent-first)
	Reason   Reason        // OfferCallback, StopRing
	Callback bool          // Ring: the caller is not on the line (agent-first callback)
	Position int           // Queued, OfferCallback, Announce: 1 = next
	Wait     time.Duration // Queued, OfferCallback, Announce: estimate, or NoEstimate
	Deadline time.Time     // Ring: when the ring times out
	Resumed  bool          // Queued: an abandoned place was given back
}
