package queue

import "time"

// Timers are data: a min-heap of deadlines (ring timeouts, ends of
// wrap-up, callback offers, announcements, callbacks falling due), so that
// a Tick costs O(log n) per deadline instead of a scan of every waiting
// caller. A timer is never removed early: it is checked against its
// entry's or agent's current deadline when it fires and dropped if that has
// moved on (the entry left, the agent answered, the offer was rescheduled).

type timerKind uint8

const (
	timerRing     timerKind = iota // agent ring timeout
	timerWrapUp                    // agent wrap-up ends
	timerOffer                     // caller on the line reaches max wait
	timerAnnounce                  // caller on the line is due an announcement
	timerDue                       // callback falls due: wakes the dispatcher to match it
)

type timer struct {
	at   time.Time
	seq  uint64 // push order: equal deadlines fire in the order they were set
	kind timerKind
	e    *entry
	a    *agent
}

func (t *timer) before(u *timer) bool {
	if c := t.at.Compare(u.at); c != 0 {
		return c < 0
	}
	return t.seq < u.seq
}

// valid reports whether t still stands.
func (t *timer) valid() bool {
	switch t.kind {
	case timerRing:
		return t.a.state == AgentRinging && t.a.until.Equal(t.at)
	case timerWrapUp:
		return t.a.state == AgentWrapUp && t.a.until.Equal(t.at)
	case timerOffer:
		return !t.e.gone && t.e.line && t.e.offerAt.Equal(t.at)
	case timerAnnounce:
		return !t.e.gone && t.e.line && t.e.announceAt.Equal(t.at)
	default: // timerDue
		return !t.e.gone && !t.e.line && t.e.state == entryWaiting && t.e.Due.Equal(t.at)
	}
}

func (q *Queue) schedule(kind timerKind, at time.Time, e *entry, a *agent) {
	q.timerSeq++
	q.timers = append(q.timers, timer{at: at, seq: q.timerSeq, kind: kind, e: e, a: a})
	h := q.timers
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h[i].before(&h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *Queue) popTimer() timer {
	h := q.timers
	t := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = timer{}
	h = h[:n]
	for i := 0; ; {
		m, l, r := i, 2*i+1, 2*i+2
		if l < n && h[l].before(&h[m]) {
			m = l
		}
		if r < n && h[r].before(&h[m]) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	q.timers = h
	return t
}

// Next returns when Tick next has timed work (a ring timeout, the end of a
// wrap-up, an offer, an announcement, a callback falling due), or false
// when nothing is scheduled. Events may add work sooner: call Tick after
// each. A time in the past means Tick now.
func (q *Queue) Next() (time.Time, bool) {
	for len(q.timers) > 0 && !q.timers[0].valid() {
		q.popTimer()
	}
	if len(q.timers) == 0 {
		return time.Time{}, false
	}
	return q.timers[0].at, true
}

// fire runs the timers due at now.
func (q *Queue) fire(out []Decision, now time.Time) []Decision {
	for len(q.timers) > 0 && !now.Before(q.timers[0].at) {
		t := q.popTimer()
		if !t.valid() {
			continue
		}
		switch e, a := t.e, t.a; t.kind {
		case timerRing:
			e = a.entry
			out = append(out, Decision{Kind: KindStopRing, Entry: e.ID, Agent: a.id, Reason: ReasonRingTimeout})
			q.endRing(a, e, now)
		case timerWrapUp:
			q.setState(a, AgentReady, now)
			a.idle = a.until
			a.until = time.Time{}
		case timerOffer:
			if e.state != entryWaiting {
				e.held = true // offered when the ring ends
				continue
			}
			p := q.position(e)
			out = append(out, Decision{Kind: KindOfferCallback, Entry: e.ID, Reason: ReasonMaxWait, Position: p, Wait: q.estimate(p)})
			e.offerAt = now.Add(q.cfg.MaxWait)
			q.schedule(timerOffer, e.offerAt, e, nil)
			if !now.Before(e.announceAt) { // the offer says it
				e.announceAt = now.Add(q.cfg.AnnounceInterval)
				q.schedule(timerAnnounce, e.announceAt, e, nil)
			}
		case timerAnnounce:
			if e.state != entryWaiting {
				e.held = true
				continue
			}
			if !now.Before(e.offerAt) {
				continue // the offer, due in this Tick too, says it
			}
			p := q.position(e)
			out = append(out, Decision{Kind: KindAnnounce, Entry: e.ID, Position: p, Wait: q.estimate(p)})
			e.announceAt = now.Add(q.cfg.AnnounceInterval)
			q.schedule(timerAnnounce, e.announceAt, e, nil)
		case timerDue:
			// Nothing to do but wake: match offers the callback.
		}
	}
	return out
}

// unhold reschedules the offer and announcement a ring held back.
func (q *Queue) unhold(e *entry) {
	if e.held && e.line && !e.gone {
		e.held = false
		q.schedule(timerOffer, e.offerAt, e, nil)
		q.schedule(timerAnnounce, e.announceAt, e, nil)
	}
}
