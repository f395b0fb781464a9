// Package queue holds Hotline's hold queues as pure logic: callers waiting
// in priority and arrival order, agents and their states, the strategies that
// choose an agent, the estimated wait, and the callback policy (max wait,
// place keeping, retries, abandoned callers resuming their place).
//
// A Queue is data plus rules over an explicit now (STYLE.md B2): events
// change it, and Tick returns Decisions, plain data that ivr's dispatcher
// acts on (ring an agent, stop a ring, offer a callback, dial a callback,
// announce a position). Timeouts are data too: a KindRing carries its
// deadline, Next says when Tick has timed work. A Queue is not safe for
// concurrent use; one dispatcher goroutine owns every queue (STYLE.md C6):
//
//	d, err := q.Join(queue.Entry{ID: callID, CallerID: from}, now)
//	for _, d := range q.Tick(now) {
//		// KindRing: INVITE the agent; on 200 q.Answered, on failure q.Declined
//		// KindOfferCallback: play the offer; on "1" q.Callback, then store it
//		// ...
//	}
//	next, ok := q.Next() // arm the dispatcher's timer
//
// Durable state (callbacks, abandoned places, freezes) lives in queue/store.
//
// queue is pure logic (STYLE.md P1): it imports the standard library only,
// never net, never another Hotline package (menus in particular: ivr
// translates between them, P4), starts no goroutines and never reads the
// clock.
package queue
