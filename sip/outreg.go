package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Trunk registration (RFC 3261 §10) and qualify (OPTIONS keep-alive, RFC 3261 §11): one
// goroutine per trunk with register: true and one per trunk with a qualify interval, from
// the first Serve until a Serve stops. Their state feeds Trunks, TrunkUp and Dial's
// failover.

const (
	// DefaultRegisterExpires is the registration lifetime asked of a trunk (Expires).
	DefaultRegisterExpires = time.Hour
	minRegisterExpires     = time.Minute
	minQualify             = time.Second

	registerTimeout   = 10 * time.Second // one REGISTER, its challenge answered
	unregisterTimeout = 2 * time.Second  // the REGISTER with Expires: 0 at stop
	qualifyTimeoutMax = 5 * time.Second  // an OPTIONS unanswered for min(this, interval) failed
	qualifyDownAfter  = 2                // consecutive failed OPTIONS that mark a trunk down
	minRefresh        = time.Second      // never refresh sooner than this after a success

	defaultBackoffMin = 5 * time.Second // first retry after a failed REGISTER, doubling
	defaultBackoffMax = 5 * time.Minute // up to this
)

// TrunkState is what Trunks reports of one trunk (the admin API's /api/v1/trunks).
type TrunkState struct {
	Name string `json:"name"`
	// Register and Qualify say what the trunk is configured to do.
	Register bool `json:"register"`
	Qualify  bool `json:"qualify"`
	// Registered: the carrier accepted our REGISTER and the binding has not expired.
	Registered      bool      `json:"registered"`
	RegisteredUntil time.Time `json:"registered_until,omitzero"`
	// Up is false while the trunk is judged unusable: its OPTIONS went unanswered (or got
	// 408 or 5xx) qualifyDownAfter times in a row, or, when it registers, its binding lapsed
	// after a failed REGISTER. Dial fails over from a trunk that is not up.
	Up bool `json:"up"`
	// LastChecked is when the last REGISTER or OPTIONS of the trunk got its outcome.
	LastChecked time.Time `json:"last_checked,omitzero"`
	// LastError is the last failure (REGISTER or OPTIONS); cleared by a success of the same kind.
	LastError string `json:"last_error,omitempty"`
}

// outbound runs the trunks' registration and qualify workers.
type outbound struct {
	mu      sync.Mutex
	states  map[string]*trunkState // by trunk name; created on first use
	cancel  context.CancelFunc
	stopped bool
	wg      sync.WaitGroup

	// backoffMin and backoffMax bound the retry delay of a failed REGISTER (zero: the
	// defaults); tests shorten them before serving.
	backoffMin, backoffMax time.Duration
}

// trunkState is guarded by outbound.mu.
type trunkState struct {
	registeredUntil time.Time
	regFailed       bool // the last REGISTER failed
	regErr          string
	probeFails      int
	down            bool
	probeErr        string
	lastChecked     time.Time
}

func (s *Server) trunkStateLocked(name string) *trunkState {
	if s.out.states == nil {
		s.out.states = make(map[string]*trunkState)
	}
	st := s.out.states[name]
	if st == nil {
		st = &trunkState{}
		s.out.states[name] = st
	}
	return st
}

func (s *Server) updateTrunk(name string, f func(*trunkState)) {
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	st := s.trunkStateLocked(name)
	f(st)
	st.lastChecked = time.Now()
}

// Trunks reports the state of every configured trunk, in config order.
func (s *Server) Trunks() []TrunkState {
	now := time.Now()
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	out := make([]TrunkState, 0, len(s.cfg.Trunks))
	for _, t := range s.cfg.Trunks {
		out = append(out, s.trunkStateOfLocked(t, now))
	}
	return out
}

// TrunkUp reports whether Dial should use the named trunk (see TrunkState.Up); false for
// an unknown name.
func (s *Server) TrunkUp(name string) bool {
	t, ok := s.trunks[name]
	if !ok {
		return false
	}
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	return s.trunkStateOfLocked(t, time.Now()).Up
}

func (s *Server) trunkStateOfLocked(t Trunk, now time.Time) TrunkState {
	st := s.trunkStateLocked(t.Name)
	ts := TrunkState{
		Name: t.Name, Register: t.Register, Qualify: t.Qualify > 0,
		Registered:  st.registeredUntil.After(now),
		LastChecked: st.lastChecked,
		LastError:   firstNonEmpty(st.regErr, st.probeErr),
	}
	if ts.Registered {
		ts.RegisteredUntil = st.registeredUntil
	}
	ts.Up = !st.down && (!t.Register || ts.Registered || !st.regFailed)
	return ts
}

// startTrunks starts the trunk workers, once; a no-op after stopTrunks.
func (s *Server) startTrunks() {
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	if s.out.cancel != nil || s.out.stopped {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.out.cancel = cancel
	for _, t := range s.cfg.Trunks {
		if t.Register {
			s.out.wg.Go(func() { s.registerLoop(ctx, t) })
		}
		if t.Qualify > 0 {
			s.out.wg.Go(func() { s.qualifyLoop(ctx, t) })
		}
	}
}

// stopTrunks stops the trunk workers and waits for them: registered trunks are
// unregistered first (bounded by unregisterTimeout). Call it while the sockets are open.
func (s *Server) stopTrunks() {
	s.out.mu.Lock()
	s.out.stopped = true
	cancel := s.out.cancel
	s.out.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.out.wg.Wait()
}

// backoff is the delay before the n-th retry (n ≥ 1) of a failed REGISTER: lo doubling per
// failure up to hi, jittered down by up to a half so that trunks failing together spread.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + rand.N(d/2+1)
}

// regSession is one trunk's registration: one Call-ID for all its REGISTERs, CSeq rising
// (RFC 3261 §10.2).
type regSession struct {
	callID  string
	cseq    uint32
	st      *serveState           // the socket of the last successful REGISTER (its Contact)
	contact *sipmsg.ContactHeader // the Contact of the last REGISTER sent
}

func (s *Server) registerLoop(ctx context.Context, t Trunk) {
	lo := cmpOrDur(s.out.backoffMin, defaultBackoffMin)
	hi := max(cmpOrDur(s.out.backoffMax, defaultBackoffMax), lo)
	expires := cmpOrDur(t.RegisterExpires, DefaultRegisterExpires)
	rs := regSession{callID: sipmsg.GenerateTagN(32), cseq: 1}
	fails := 0
	for ctx.Err() == nil {
		granted, err := s.register(ctx, t, &rs, expires)
		if ctx.Err() != nil {
			break
		}
		var wait time.Duration
		if err == nil {
			fails, wait = 0, max(granted/2, minRefresh) // refresh at half the granted lifetime
			s.updateTrunk(t.Name, func(st *trunkState) {
				st.registeredUntil, st.regFailed, st.regErr = time.Now().Add(granted), false, ""
			})
			s.log.Debug("trunk registered", "trunk", t.Name, "expires", granted)
		} else {
			fails++
			wait = backoff(fails, lo, hi)
			s.updateTrunk(t.Name, func(st *trunkState) { st.regFailed, st.regErr = true, err.Error() })
			s.log.Warn("trunk registration failed", "trunk", t.Name, "error", err, "retry_in", wait.Round(time.Millisecond))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
		timer.Stop()
	}

	s.out.mu.Lock()
	st := s.trunkStateLocked(t.Name)
	bound := st.registeredUntil.After(time.Now())
	st.registeredUntil = time.Time{}
	s.out.mu.Unlock()
	if !bound || rs.st == nil {
		return
	}
	uctx, cancel := context.WithTimeout(context.Background(), unregisterTimeout)
	defer cancel()
	if res, err := s.sendRegister(uctx, t, &rs, rs.st, 0); err != nil {
		s.log.Debug("trunk unregister failed", "trunk", t.Name, "error", err)
	} else if !res.IsSuccess() {
		s.log.Debug("trunk unregister refused", "trunk", t.Name, "code", res.StatusCode)
	}
}

func cmpOrDur(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// register sends one REGISTER asking for expires and returns the lifetime granted. A 423
// Interval Too Brief is retried once with the registrar's Min-Expires (RFC 3261 §10.2.8).
func (s *Server) register(ctx context.Context, t Trunk, rs *regSession, expires time.Duration) (time.Duration, error) {
	tu, _ := t.parse() // validated by NewServer
	st, err := s.acquireOut(ctx, t.transport(tu), "")
	if err != nil {
		return 0, err
	}
	defer st.calls.Done()
	rctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	for try := 0; ; try++ {
		res, err := s.sendRegister(rctx, t, rs, st, expires)
		if err != nil {
			return 0, fmt.Errorf("register: %w", err)
		}
		if res.StatusCode == 423 && try == 0 {
			if h := res.GetHeader("Min-Expires"); h != nil {
				if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && time.Duration(n)*time.Second > expires {
					expires = time.Duration(n) * time.Second
					continue
				}
			}
		}
		if !res.IsSuccess() {
			return 0, fmt.Errorf("register: %w", &RejectError{Code: res.StatusCode, Reason: res.Reason})
		}
		rs.st = st
		return grantedExpiry(res, rs.contact, expires), nil
	}
}

// trunkRequest builds a request of ours to trunk t (REGISTER, OPTIONS) leaving from st:
// Request-URI the trunk's URI without user, From (and To) the trunk's address of record.
// It returns the client to send it with.
func (s *Server) trunkRequest(t Trunk, method sipmsg.RequestMethod, st *serveState) (*sipmsg.Request, *sipgo.Client, error) {
	tu, _ := t.parse()
	transport := t.transport(tu)
	host, port, err := s.advertise(st, hostPort(tu, transport))
	if err != nil {
		return nil, nil, err
	}
	ruri := *tu.Clone()
	ruri.User, ruri.Password = "", "" // RFC 3261 §10.2: no userinfo
	aor := sipmsg.Uri{Scheme: "sip", User: firstNonEmpty(t.Username, t.FromUser, defaultServerFromUser),
		Host: firstNonEmpty(t.FromHost, tu.Host)}
	if strings.EqualFold(tu.Scheme, "sips") {
		aor.Scheme = "sips"
	}
	from := &sipmsg.FromHeader{Address: aor, Params: sipmsg.NewParams()}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	to := &sipmsg.ToHeader{Address: aor}
	contact := &sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: aor.User, Host: host, Port: port}}
	if aor.Scheme == "sips" {
		contact.Address.Scheme = "sips"
	} else if transport != "udp" {
		contact.Address.UriParams = sipmsg.NewParams()
		contact.Address.UriParams.Add("transport", transport)
	}
	req := sipmsg.NewRequest(method, ruri)
	req.AppendHeader(from)
	if method == sipmsg.OPTIONS {
		req.AppendHeader(&sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: ruri.Scheme, Host: ruri.Host, Port: ruri.Port}})
	} else {
		req.AppendHeader(to)
	}
	req.AppendHeader(contact)
	req.AppendHeader(sipmsg.NewHeader("User-Agent", s.cfg.UserAgent))
	req.SetTransport(strings.ToUpper(transport))

	opts := viaOptions(s.cfg.ExternalAddress, host, port)
	if transport == "udp" {
		// From the served socket, so that answers (and a NAT's mapping) come back to it.
		if h, pt, err := sipmsg.ParseAddr(st.addr.String()); err == nil {
			laddr := sipmsg.Addr{IP: net.ParseIP(h), Port: pt, Hostname: h}
			opts = append(opts, sipgo.WithClientConnectionAddr(laddr.String()))
		}
	}
	cli, err := sipgo.NewClient(s.ua, opts...)
	if err != nil {
		return nil, nil, err
	}
	return req, cli, nil
}

// sendRegister sends a REGISTER with Expires expires from st, answering one 401/407 with
// the trunk's credentials, and returns the final response.
func (s *Server) sendRegister(ctx context.Context, t Trunk, rs *regSession, st *serveState, expires time.Duration) (*sipmsg.Response, error) {
	if !s.beginSend() {
		return nil, ErrServerClosed
	}
	defer s.endSend()
	req, cli, err := s.trunkRequest(t, sipmsg.REGISTER, st)
	if err != nil {
		return nil, err
	}
	callID := sipmsg.CallIDHeader(rs.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: rs.cseq, MethodName: sipmsg.REGISTER})
	exp := sipmsg.ExpiresHeader(int(expires / time.Second))
	req.AppendHeader(&exp)
	rs.contact = req.Contact()

	res, err := cli.Do(ctx, req)
	rs.cseq = req.CSeq().SeqNo + 1
	if err != nil {
		return nil, err
	}
	if (res.StatusCode == 401 || res.StatusCode == 407) && t.Username != "" {
		res, err = cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: t.Username, Password: t.Password})
		rs.cseq = req.CSeq().SeqNo + 1 // DoDigestAuth took the next number
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

// grantedExpiry reads our binding's lifetime from a REGISTER's 2xx (RFC 3261 §10.2.4): the
// expires parameter of our Contact, else the Expires header, else what we asked.
func grantedExpiry(res *sipmsg.Response, ours *sipmsg.ContactHeader, asked time.Duration) time.Duration {
	secs := func(v string) (time.Duration, bool) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		return time.Duration(n) * time.Second, err == nil && n > 0
	}
	for _, h := range res.GetHeaders("Contact") {
		ct, ok := h.(*sipmsg.ContactHeader)
		if !ok || ours == nil || ct.Address.User != ours.Address.User ||
			!strings.EqualFold(ct.Address.Host, ours.Address.Host) || ct.Address.Port != ours.Address.Port {
			continue
		}
		if v, ok := ct.Params.Get("expires"); ok {
			if d, ok := secs(v); ok {
				return d
			}
		}
	}
	if h := res.GetHeader("Expires"); h != nil {
		if d, ok := secs(h.Value()); ok {
			return d
		}
	}
	return asked
}

func (s *Server) qualifyLoop(ctx context.Context, t Trunk) {
	tick := time.NewTicker(t.Qualify)
	defer tick.Stop()
	for {
		err := s.qualify(ctx, t, min(t.Qualify, qualifyTimeoutMax))
		if ctx.Err() != nil {
			return
		}
		s.updateTrunk(t.Name, func(st *trunkState) {
			if err == nil {
				if st.down {
					s.log.Info("trunk up", "trunk", t.Name)
				}
				st.probeFails, st.down, st.probeErr = 0, false, ""
				return
			}
			st.probeFails++
			st.probeErr = err.Error()
			if st.probeFails >= qualifyDownAfter && !st.down {
				st.down = true
				s.log.Warn("trunk down", "trunk", t.Name, "error", err)
			}
		})
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

var errNoAnswer = errors.New("no answer")

// qualify sends one OPTIONS to the trunk: nil when it answers within timeout with
// anything but 408 or 5xx (a 404 or 405 still proves it alive).
func (s *Server) qualify(ctx context.Context, t Trunk, timeout time.Duration) error {
	tu, _ := t.parse()
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := s.acquireOut(qctx, t.transport(tu), "")
	if err != nil {
		return fmt.Errorf("options: %w", err)
	}
	defer st.calls.Done()
	if !s.beginSend() {
		return ErrServerClosed
	}
	defer s.endSend()
	req, cli, err := s.trunkRequest(t, sipmsg.OPTIONS, st)
	if err != nil {
		return fmt.Errorf("options: %w", err)
	}
	req.AppendHeader(sipmsg.NewHeader("Accept", "application/sdp"))
	res, err := cli.Do(qctx, req)
	switch {
	case err != nil && qctx.Err() != nil && ctx.Err() == nil:
		return fmt.Errorf("options: %w within %v", errNoAnswer, timeout)
	case err != nil:
		return fmt.Errorf("options: %w", err)
	case res.StatusCode == 408 || res.StatusCode >= 500:
		return fmt.Errorf("options: %d %s", res.StatusCode, res.Reason)
	}
	return nil
}
