package ivr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/media/sdp"
	"github.com/hotline-ivr/hotline/queue"
	"github.com/hotline-ivr/hotline/queue/store"
	"github.com/hotline-ivr/hotline/sip"
)

// dialCallback dials a callback's customer and serves them as a call of the same model as
// an inbound one: agent-first (agent set), the agent already answered and the call starts
// bridged; customer-first (agent nil), the customer waits at the kept place in the hold
// phase, where the freeze key works as anywhere. Each attempt is claimed in the store under
// a lease, renewed while the customer waits, so that one callback is dialled by one
// dialler at a time, even across a crash. Runs on a goroutine the dispatcher tracks.
func (d *dispatcher) dialCallback(ctx context.Context, qname, id string, cbID int64, agent *peer) {
	e := d.e
	releaseAgent := func() {
		if agent != nil {
			hangupBounded(ctx, agent.leg) // the agent waited on the line for nothing
			agent.close()
		}
	}
	// Admission first: a callback leg is a call like any other and counts against
	// max_calls. Over the limit the dial is postponed, not counted as an attempt.
	release, ok := e.admit(DirectionOutbound, KindCallback)
	if ok && e.draining.Load() { // stopping: no new call is started, the callback waits
		release()
		ok = false
	}
	if !ok {
		d.log.Warn("callback postponed: at the call limit, or draining", "callback", cbID)
		releaseAgent()
		d.do(func(now time.Time) {
			d.queues[qname].Postpone(id, now, now.Add(d.timing.shedBackoff))
			if agent != nil {
				d.agentFree(agent.id, now)
			}
		})
		return
	}
	defer release()

	// An admin cancel reaches the dial in flight through its context.
	dctx, cancelDial := context.WithCancel(ctx)
	defer cancelDial()
	if _, err := ask(d, func(time.Time) (struct{}, error) {
		en, ok := d.entries[id]
		if !ok {
			return struct{}{}, errCanceled
		}
		en.cancelDial = cancelDial
		if agent != nil {
			en.dialAgent = agent.id
		}
		return struct{}{}, nil
	}); err != nil {
		releaseAgent()
		if agent != nil {
			d.do(func(now time.Time) { d.agentFree(agent.id, now) })
		}
		return
	}

	fail := func(outcome store.Outcome, err error) {
		d.log.Info("callback attempt failed", "callback", cbID, "outcome", outcome, "err", err)
		releaseAgent()
		type result struct {
			retryAt time.Time
			ok      bool
		}
		res, _ := ask(d, func(now time.Time) (result, error) {
			if agent != nil {
				d.agentFree(agent.id, now)
			}
			retryAt, err := d.queues[qname].DialResult(id, now, false)
			if err != nil { // canceled meanwhile: the store says so already
				return result{}, nil
			}
			if en, ok := d.entries[id]; ok {
				en.cancelDial, en.dialAgent = nil, ""
				if retryAt.IsZero() {
					delete(d.entries, id) // no attempts left: out of the queue
				}
			}
			return result{retryAt, true}, nil
		})
		if !res.ok {
			return
		}
		// The store write leaves the dispatcher goroutine (it commits with fsync).
		if _, err := d.cbs.CompleteAttempt(context.WithoutCancel(ctx), cbID, d.owner, e.now(), outcome, res.retryAt); err != nil {
			d.log.Error("callback attempt not recorded", "callback", cbID, "err", err)
		}
		e.metrics.callbacks.WithLabelValues(string(outcome)).Inc()
		if res.retryAt.IsZero() {
			e.metrics.callbacks.WithLabelValues("failed").Inc()
		}
	}
	if _, err := d.cbs.ClaimCallback(dctx, cbID, d.owner, e.now(), d.timing.lease); err != nil {
		releaseAgent()
		d.do(func(now time.Time) {
			if agent != nil {
				d.agentFree(agent.id, now)
			}
			if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrFinished) || errors.Is(err, store.ErrLeaseLost) {
				// Canceled, finished, or being dialled by another instance: not ours to dial.
				d.forget(qname, id, now)
				d.queues[qname].Leave(id, now, queue.LeaveCanceled)
			} else {
				d.queues[qname].Postpone(id, now, now.Add(d.timing.shedBackoff)) // a store fault: try again
			}
		})
		return
	}
	cb, err := d.cbs.StartAttempt(dctx, cbID, d.owner, e.now(), d.timing.lease)
	if err != nil {
		fail(store.OutcomeError, err)
		return
	}
	// The attempt stays leased while the customer's phone rings and while they wait, so
	// that a crash leaves it to be dialled again, never twice at once and never lost.
	stopRenew := d.renewLease(ctx, cbID)
	defer stopRenew()
	qc := d.cfgs[qname]
	// The dial plan again, as it stands now: a number stored before the plan changed is
	// not dialled (every attempt is refused, so the callback fails after its attempts).
	if err := d.checkTarget(qname, cb.CallerNumber); err != nil {
		stopRenew()
		fail(store.OutcomeRejected, fmt.Errorf("dial plan: %w", err))
		return
	}
	rctx, cancel := context.WithTimeout(dctx, d.timing.customerRing)
	cust, err := d.dialer.dialLeg(rctx, "callback", cb.CallerNumber, sip.DialOptions{
		Trunk: qc.CallbackTrunk, FromUser: cmpOr(qc.Callback.CallerID, "hotline"), FromDisplay: "Hotline callback"})
	cancel()
	if err != nil {
		stopRenew()
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
	_, err = ask(d, func(now time.Time) (struct{}, error) {
		en, ok := d.entries[id]
		if !ok || en.canceling {
			return struct{}{}, errCanceled
		}
		if _, err := d.queues[qname].DialResult(id, now, true); err != nil {
			return struct{}{}, fmt.Errorf("%w: %w", errCanceled, err)
		}
		en.cancelDial, en.dialAgent = nil, ""
		if agent != nil {
			delete(d.entries, id) // agent-first: served from now, out of the queue
		} else {
			en.events = events // back on the line at the kept place
		}
		return struct{}{}, nil
	})
	if err != nil {
		stopRenew()
	}
	switch {
	case errors.Is(err, errStopped):
		// The server stopped as the customer answered: they hear nothing from us, so the
		// callback is not done; it is due again at the next start. Recorded first: the
		// store closes once this goroutine ends.
		if _, err := d.cbs.CompleteAttempt(context.WithoutCancel(ctx), cbID, d.owner, e.now(), store.OutcomeInterrupted, e.now()); err != nil {
			d.log.Error("callback attempt not recorded", "callback", cbID, "err", err)
		}
		releaseAgent()
		hangupBounded(ctx, cust.leg)
		return
	case err != nil:
		// Canceled while the customer's phone rang: say nothing more, release both.
		d.log.Info("callback canceled as the customer answered", "callback", cbID, "err", err)
		releaseAgent()
		if agent != nil {
			d.do(func(now time.Time) { d.agentFree(agent.id, now) })
		}
		hangupBounded(ctx, cust.leg)
		return
	}

	rec := &CallRecord{
		CallID:    cust.leg.ID(),
		Direction: DirectionOutbound,
		Kind:      KindCallback,
		Caller:    Party{User: cb.CallerNumber, Display: cb.CallerName},
		Start:     e.now(),
		Queue:     &QueueRecord{Name: qname, JoinedAt: cb.Arrival, Callback: fmt.Sprint(cbID)},
	}
	menu := e.menu.Load()
	rec.TreeVersion = menu.Tree.Version()
	c := &call{e: e, leg: cust.leg, m: cust.m, menu: menu, rec: rec,
		dtmf: callDTMF{rfc4733: true, inband: true}, keys: keyFilter{window: e.dedupeWindow()}, trunk: "callback"}
	if agent != nil {
		stopRenew()
		d.complete(ctx, cbID, store.OutcomeAnswered) // bridged at once: done
		e.runCall(ctx, c, newBridged(qname, id, agent))
	} else {
		e.runCall(ctx, c, newResumedHold(qname, id, events))
		stopRenew() // before the attempt is completed
		if rec.Outcome == OutcomeShutdown {
			// Stopped while waiting: due again at the next start, at the same place.
			if _, err := d.cbs.CompleteAttempt(context.WithoutCancel(ctx), cbID, d.owner, e.now(), store.OutcomeInterrupted, e.now()); err != nil {
				d.log.Error("callback attempt not recorded", "callback", cbID, "err", err)
			}
		} else {
			d.complete(ctx, cbID, store.OutcomeAnswered)
		}
	}
	hangupBounded(ctx, cust.leg) // ended on our side (a stop, an error): the customer hears a BYE
}

// complete records a callback attempt that reached the customer.
func (d *dispatcher) complete(ctx context.Context, cbID int64, outcome store.Outcome) {
	if _, err := d.cbs.CompleteAttempt(context.WithoutCancel(ctx), cbID, d.owner, d.e.now(), outcome, time.Time{}); err != nil {
		d.log.Error("callback answered but not recorded", "callback", cbID, "err", err)
	}
	d.e.metrics.callbacks.WithLabelValues(string(outcome)).Inc()
}

// renewLease keeps a callback attempt's lease alive until the returned stop is called.
func (d *dispatcher) renewLease(ctx context.Context, cbID int64) (stop func()) {
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(d.timing.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := d.cbs.RenewLease(context.WithoutCancel(ctx), cbID, d.owner, d.e.now(), d.timing.lease); err != nil {
					d.log.Warn("callback lease not renewed", "callback", cbID, "err", err)
				}
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-ended
		})
	}
}

// hangupBounded hangs a leg up unless it has ended, waiting at most a few seconds for the
// far end (a vanished phone must not hold up a stop).
func hangupBounded(ctx context.Context, l Leg) {
	select {
	case <-l.Done():
		return
	default:
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	l.Hangup(hctx)
}

// rtpDialer is the engine's legDialer: an RTP port from the pool, an SDP offer, the SIP
// call, then a media session on the answer.
type rtpDialer struct {
	e   *Engine
	sip Dialer
}

func (r *rtpDialer) dialLeg(ctx context.Context, id, target string, o sip.DialOptions) (*peer, error) {
	e := r.e
	conn, err := e.pool.Listen()
	if err != nil {
		return nil, err
	}
	local := netip.AddrPortFrom(e.advertise, uint16(conn.LocalAddr().(*net.UDPAddr).Port))
	origin := &sdp.Origin{ID: uint64(e.now().UnixNano())} // every SDP of the leg's (RFC 3264 §8)
	offer := sdp.Offer(sdp.OfferOptions{Addr: local, Codecs: e.cfg.Media.CodecNames(), DTMF: true, Origin: origin})
	call, err := r.sip.Dial(ctx, target, offer, o)
	if err != nil {
		e.pool.Release(conn)
		return nil, err
	}
	neg, err := sdp.ParseAnswer(call.RemoteSDP())
	if err != nil {
		call.Hangup(context.Background())
		e.pool.Release(conn)
		return nil, fmt.Errorf("%s answer: %w", id, err)
	}
	// RTP is latched from the SDP's address or the answer's signalling address (a phone
	// behind NAT whose SDP names its private address sends from its public one).
	sess := media.NewSession(conn, media.SessionConfig{Codec: neg.Codec, DTMFPT: neg.DTMFPT, Remote: neg.Remote,
		PeerIP: addrOf(call.Source())})
	sess.Start(context.WithoutCancel(ctx))
	// The far end's re-INVITEs (a phone's hold, a carrier moving the media, a refresh with
	// SDP) are answered as an inbound call's are: the leg's codec, its direction honoured.
	ri := newReinviter()
	ri.ready(local, neg.Codec, "auto", sess, origin, neg.Direction)
	ri.confirm(sess, neg.Direction)
	call.OnReinvite(ri.answer)
	var once sync.Once
	return &peer{id: id, leg: call, m: sess, close: func() {
		once.Do(func() {
			sess.Close()
			e.metrics.addSession(sess.Stats())
			e.pool.Release(conn)
		})
	}}, nil
}

// addrOf returns the IP of a host:port, or the zero Addr.
func addrOf(hostport string) netip.Addr {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// bridgeSessions is the engine's bridger for RTP sessions.
func bridgeSessions(ctx context.Context, a, b Media, o ...bridgeOption) (func(), error) {
	sa, ok1 := a.(*media.Session)
	sb, ok2 := b.(*media.Session)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("bridge: %T and %T are not both RTP sessions", a, b)
	}
	br, err := media.Bridge(ctx, sa, sb, media.BridgeConfig{TakeDigitsB: slices.Contains(o, takeDigitsB)})
	if err != nil {
		return nil, err
	}
	return br.Unbridge, nil
}
