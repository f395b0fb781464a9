package ivr

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/media/sdp"
	"github.com/hotline-ivr/hotline/menus"
	"github.com/hotline-ivr/hotline/queue/store"
	"github.com/hotline-ivr/hotline/sip"
)

var (
	errNoLoader = errors.New("no config file to reload")
	errShed     = errors.New("over the admission limit")
)

// AdminConfig configures the admin HTTP API.
type AdminConfig struct {
	// Listen is the admin HTTP address; default 127.0.0.1:8080.
	Listen string `mapstructure:"listen"`
	// CallHistory is how many finished calls /api/v1/calls keeps; default 1000.
	CallHistory int `mapstructure:"call_history"`
	// Pprof serves Go's profiler under /debug/pprof/ when true.
	Pprof bool `mapstructure:"pprof"`
	// Token is the bearer token every endpoint but /healthz and /readyz requires
	// (Authorization: Bearer TOKEN); at least 16 characters. Empty: the API is open, which
	// NewGuard allows only on a loopback Listen address.
	Token string `mapstructure:"token"`
	// TokenFile is a file holding the token (surrounding white space trimmed), read when
	// the guard is built; the alternative to Token.
	TokenFile string `mapstructure:"token_file"`
	// Hosts are the host names and IP addresses the API answers to in the Host header,
	// besides loopback, localhost and Listen's own host (DNS rebinding protection).
	Hosts []string `mapstructure:"hosts"`
}

// Config configures an Engine.
type Config struct {
	Media media.Config
	Admin AdminConfig
	DTMF  DTMFConfig
	// Dispatch tunes the queue dispatcher's timers.
	Dispatch DispatchConfig
	// MaxCalls is the admission limit: calls beyond it are refused with 503 before
	// anything is allocated; 0: no limit. Calls already in progress keep
	// everything they need, the freeze lane included, so the limit is the headroom.
	MaxCalls int
	// Overload answers callers beyond MaxCalls with the brown-out offer (brownout.go).
	Overload OverloadConfig
}

// CallInfo is what the signalling layer knows of a call beyond the Leg.
type CallInfo struct {
	Caller Party
	// Asserted is the P-Asserted-Identity a trusted trunk vouched for (RFC 3325), when
	// given; the caller is identified by it before the From user. The signalling layer
	// leaves it nil for calls from anywhere else: a From user is a claim, not an identity.
	Asserted *Party
	Source   string
	// Trunk names the trunk the call came from; "" for a registered phone or an allowed
	// source.
	Trunk string
	// Info carries key presses that arrived by SIP INFO, when the signalling layer has them.
	Info <-chan media.Digit
	// reinvite answers re-INVITEs once the media is up; nil when the leg cannot send them.
	reinvite *reinviter
}

// Menu is a compiled menu tree with its prompts loaded, shared read-only by every call
// that starts while it is current.
type Menu struct {
	Tree    *menus.Tree
	Prompts map[string]*media.Prompt

	digest struct { // of the prompts' audio, for reloads (audioDigest)
		once sync.Once
		sum  [32]byte
	}
}

// LoadPrompts decodes every prompt file from fsys (paths relative to its root) into ready
// G.711 frames, keyed by prompt ID (what menus' Play actions name). Errors name the config
// key of each prompt that failed.
func LoadPrompts(refs []menus.PromptRef, fsys fs.FS) (map[string]*media.Prompt, error) {
	out := make(map[string]*media.Prompt, len(refs))
	var errs []error
	for _, r := range refs {
		if r.File == "" {
			continue // menus validation reports it
		}
		data, err := fs.ReadFile(fsys, r.File)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.file: %w", r.Path, err))
			continue
		}
		p, err := media.DecodeWAV(r.ID, data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.file: %s: %w", r.Path, r.File, err))
			continue
		}
		out[r.ID] = p
	}
	return out, errors.Join(errs...)
}

// LoadMenu loads every prompt the compiled tree names, in every language.
func LoadMenu(tree *menus.Tree, fsys fs.FS) (*Menu, error) {
	prompts, err := LoadPrompts(tree.PromptRefs(), fsys)
	if err != nil {
		return nil, err
	}
	return &Menu{Tree: tree, Prompts: prompts}, nil
}

// Engine answers calls and walks each caller through the current menu.
type Engine struct {
	cfg       Config
	menu      atomic.Pointer[Menu]
	pool      *media.PortPool
	records   *records
	metrics   *metrics
	log       *slog.Logger
	advertise netip.Addr // the IP our SDP names: media.public_address, else media.rtp_address (never bound)
	now       func() time.Time
	reload    reloader
	active    atomic.Int64  // calls admitted, for the admission limit
	brownout  atomic.Int64  // calls on the brown-out offer, beyond the limit
	draining  atomic.Bool   // Drain: no callback is dialled any more
	freeze    *freezer      // nil until EnableFreeze
	dispatch  *dispatcher   // nil until EnableQueues
	sipStats  sipStats      // nil until ExportSIPStats; the admin API's trunk states
	store     *store.DB     // nil until SetStore; the admin API's
	callbacks callbackStore // nil until SetStore
	taker     callbackTaker // nil until SetStore
	places    placeStore    // nil until SetStore
	bridge    bridger
	node      string // this process in callback leases
	timings   dispatchTimings
	bg        sync.WaitGroup // the dispatcher and the webhook sender; Close waits
	sys       map[string]*media.Prompt
}

// SetStore gives the engine its durable store (callbacks and kept places; the freeze lane
// brings its own). Call it before EnableQueues.
func (e *Engine) SetStore(db *store.DB) {
	e.store, e.callbacks, e.taker, e.places = db, db, db, db
}

// Close waits until the engine's background work has ended: the queue dispatcher and every
// goroutine it started (rings, callback calls, store writes), and the webhook sender. They
// end with the context given to EnableQueues and EnableFreeze; Close returns false if they
// have not within timeout. The store may be closed after Close returned true.
func (e *Engine) Close(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() {
		e.bg.Wait()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// LoadSystemPrompts loads the prompts hold queues speak with, from fsys: music on hold
// ("moh.wav") and media.SayPrompts for each language ("numbers/en/20.wav", ...).
func (e *Engine) LoadSystemPrompts(fsys fs.FS) error {
	names := []string{promptMusic}
	names = append(names, "queue/en/agent_ready", "queue/en/agent_paused", "queue/en/agent_logged_out", "queue/en/agent_unknown")
	for _, lang := range []string{media.LangEN, media.LangZH} {
		names = append(names, media.SayPrompts(lang)...)
		for _, p := range queuePhrases {
			names = append(names, "queue/"+lang+"/"+p)
		}
	}
	sys := make(map[string]*media.Prompt, len(names))
	var errs []error
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n+".wav")
		if err != nil {
			errs = append(errs, fmt.Errorf("system prompt %s: %w", n, err))
			continue
		}
		p, err := media.DecodeWAV(n, data)
		if err != nil {
			errs = append(errs, fmt.Errorf("system prompt %s: %w", n, err))
			continue
		}
		sys[n] = p
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	e.sys = sys
	return nil
}

// NewEngine returns an engine serving menu to new calls.
func NewEngine(cfg Config, menu *Menu, log *slog.Logger) (*Engine, error) {
	if err := errors.Join(cfg.Media.Validate(), cfg.DTMF.Validate(), cfg.Dispatch.Validate()); err != nil {
		return nil, err
	}
	ip, err := cfg.Media.Addr()
	if err != nil {
		return nil, err
	}
	adv, err := cfg.Media.Advertised()
	if err != nil {
		return nil, err
	}
	pool, err := media.NewPortPool(ip, cfg.Media.RTPPortMin, cfg.Media.RTPPortMax)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	e := &Engine{
		cfg:     cfg,
		pool:    pool,
		records: newRecords(cfg.Admin.CallHistory),
		metrics: newMetrics(),
		log:     log,
		now:     time.Now,
		bridge:  bridgeSessions,
		node:    fmt.Sprint("hotline-", os.Getpid()),
		timings: cfg.Dispatch.timings(),
	}
	e.advertise = adv
	e.menu.Store(menu)
	e.reload.loadedAt = e.now()
	return e, nil
}

// SIPHandler adapts the engine to the sip server.
func (e *Engine) SIPHandler() sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, l *sip.Leg) error {
		if d := e.dispatch; d != nil {
			if st, ok := d.codes[l.To().User]; ok {
				return e.serveAgentCode(ctx, l, st)
			}
		}
		f := l.From()
		info := make(chan media.Digit, 8)
		// SIP INFO key presses (application/dtmf-relay, application/dtmf): 200 for a key,
		// 415 for a body we cannot read. Runs on sipgo's goroutine: never block (C5).
		l.OnInfo(func(contentType string, body []byte) int {
			key, _, err := media.ParseInfoDTMF(contentType, body)
			if err != nil {
				e.metrics.infoRejected.Inc()
				return 415
			}
			select {
			case info <- media.Digit{Key: key, Mode: media.ModeInfo, At: e.now()}:
			default:
				e.metrics.digitsDropped.Inc()
			}
			return 200
		})
		ci := CallInfo{
			Caller: Party{User: f.User, Display: f.Display, URI: f.URI},
			Source: l.Source(),
			Trunk:  l.Trunk(),
			Info:   info,
		}
		ci.reinvite = newReinviter()
		l.OnReinvite(ci.reinvite.answer)
		l.OnReoffer(ci.reinvite.reoffer)
		if pai, ok := l.AssertedIdentity(); ok {
			ci.Asserted = &Party{User: pai.User, Display: pai.Display, URI: pai.URI}
		}
		return e.ServeCall(ctx, l, ci)
	})
}

// Outcomes recorded per call and counted in hotline_calls_total.
const (
	OutcomeCallerHangup  = "caller_hangup"  // caller hung up in the menu
	OutcomeGoodbye       = "goodbye"        // caller chose an option that ends the call
	OutcomeMaxRetries    = "max_retries"    // too many timeouts or invalid keys; ended politely
	OutcomeCompleted     = "completed"      // an announcement node played to its end
	OutcomeFrozen        = "frozen"         // the freeze lane froze an account and read back its reference
	OutcomeFreezeRefused = "freeze_refused" // the freeze lane refused (unknown account, wrong check, rate limit)
	OutcomeFreezeFailed  = "freeze_failed"  // the freeze could not be recorded (store fault)
	OutcomeRejected      = "rejected"       // not answered: unusable SDP or no media port
	OutcomeError         = "error"
	OutcomeShutdown      = "shutdown"
	OutcomeShed          = "shed" // refused with 503: over the admission limit (never answered)
	// Calls whose far end is gone, or that outlived a limit; in any phase but ending.
	OutcomeRTPTimeout     = "rtp_timeout"     // the far end's RTP stopped: gone without a BYE
	OutcomeMaxDuration    = "max_duration"    // sip.max_call_duration reached
	OutcomeSessionExpired = "session_expired" // no RFC 4028 session refresh in time
)

// Call directions and kinds shown in call records.
const (
	DirectionInbound  = "inbound"
	DirectionOutbound = "outbound"
	KindCaller        = "caller"     // a caller dialled in
	KindCallback      = "callback"   // we dialled a callback's customer
	KindAgentCode     = "agent_code" // an agent dialled a feature code (*21 ready, ...)
	KindAgent         = "agent"      // we rang an agent, who answered and was bridged
)

// admit counts a call against the admission limit; release gives its slot back.
func (e *Engine) admit(direction, kind string) (release func(), ok bool) {
	max := e.cfg.MaxCalls
	if max <= 0 {
		return func() {}, true
	}
	if n := e.active.Add(1); n > int64(max) {
		e.active.Add(-1)
		e.metrics.callsTotal.WithLabelValues(direction, kind, OutcomeShed).Inc()
		return nil, false
	}
	return func() { e.active.Add(-1) }, true
}

func (e *Engine) dedupeWindow() time.Duration {
	if w := e.cfg.DTMF.DedupeWindow; w > 0 {
		return w
	}
	return 250 * time.Millisecond
}

// ServeCall answers the leg and runs the call until it ends. It runs on the call's own
// goroutine (STYLE.md C1) and returns when the call is over.
func (e *Engine) ServeCall(ctx context.Context, leg Inbound, info CallInfo) (err error) {
	var first phase
	release, ok := e.admit(DirectionInbound, KindCaller)
	if !ok {
		if release, ok = e.admitBrownout(); !ok {
			return &sip.RejectError{Code: 503, Reason: "Service Unavailable",
				Err: fmt.Errorf("call %s: %d calls in progress (limit %d): %w", leg.ID(), e.active.Load(), e.cfg.MaxCalls, errShed)}
		}
		first = overloadPhase{} // beyond max_calls: the freeze key and a callback, then released
	}
	defer release()
	menu := e.menu.Load()
	rec := &CallRecord{
		CallID:      leg.ID(),
		Direction:   DirectionInbound,
		Kind:        KindCaller,
		Caller:      info.Caller,
		Asserted:    info.Asserted,
		Trusted:     info.Asserted != nil && info.Asserted.User != "",
		Source:      info.Source,
		Trunk:       info.Trunk,
		TreeVersion: menu.Tree.Version(),
		Start:       e.now(),
	}
	conn, err := e.pool.Listen()
	if err != nil {
		rec.Outcome = OutcomeRejected
		e.finish(rec, err)
		return &sip.RejectError{Code: 503, Reason: "Service Unavailable", Err: fmt.Errorf("call %s: rtp port: %w", leg.ID(), err)}
	}
	defer e.pool.Release(conn)
	local := netip.AddrPortFrom(e.advertise, uint16(conn.LocalAddr().(*net.UDPAddr).Port))
	origin := &sdp.Origin{ID: uint64(e.now().UnixNano())} // every SDP of the call's (RFC 3264 §8)
	off, late := leg.(offerer)
	late = late && len(leg.RemoteSDP()) == 0
	var answer []byte
	var neg sdp.Negotiated
	if late { // no SDP in the INVITE: ours goes in the 200, the answer comes in the ACK
		if neg, err = e.lateOffer(ctx, off, leg.ID(), local, origin); err != nil {
			rec.Outcome = OutcomeRejected // a 488 RejectError: the ACK had no usable answer
			if !errors.As(err, new(*sip.RejectError)) {
				rec.Outcome = outcomeFromCause(context.Cause(ctx), OutcomeError)
			}
			e.finish(rec, err)
			return err
		}
	} else if answer, neg, err = sdp.Answer(leg.RemoteSDP(), sdp.AnswerOptions{
		Addr: local, Codecs: e.cfg.Media.CodecNames(), Origin: origin}); err != nil {
		rec.Outcome = OutcomeRejected
		e.finish(rec, err)
		return &sip.RejectError{Code: 488, Reason: "Not Acceptable Here", Err: fmt.Errorf("call %s: sdp: %w", leg.ID(), err)}
	}
	rec.Codec = string(neg.Codec.Name)

	mode, trunk, lang := e.cfg.DTMF.resolve(info.Source, info.Caller.User)
	rec.DTMFMode, rec.Language = mode, lang
	policy := newCallDTMF(mode, neg.DTMFPT != 0)
	// Muted until the ACK: an INVITE's SDP can name anyone's address, and nothing goes there
	// before the caller confirms the answer (no reflection). RTP is latched only from the
	// SDP address or the address the INVITE came from (no hijack by whoever sends first).
	var peerIP netip.Addr
	if ap, err := netip.ParseAddrPort(info.Source); err == nil {
		peerIP = ap.Addr().Unmap()
	}
	sess := media.NewSession(conn, media.SessionConfig{Codec: neg.Codec, DTMFPT: neg.DTMFPT, Remote: neg.Remote,
		PeerIP: peerIP, Inband: policy.inband, Muted: true})
	sess.Start(ctx)
	defer func() {
		sess.Close()
		e.metrics.addSession(sess.Stats())
	}()
	var policies <-chan callDTMF
	if info.reinvite != nil {
		info.reinvite.ready(local, neg.Codec, mode, sess, origin, neg.Direction)
		policies = info.reinvite.policy
	}
	if !late { // a late offer's ACK is in already
		if err := leg.Answer(ctx, answer); err != nil { // returns once the ACK is in
			rec.Outcome = outcomeFromCause(context.Cause(ctx), OutcomeError)
			e.finish(rec, err)
			return err // sip already says "call <id>: answer: ..."
		}
	}
	info.reinvite.confirm(sess, neg.Direction) // unmuted, unless the caller holds us
	c := &call{e: e, leg: answered{leg}, m: sess, menu: menu, rec: rec, info: info.Info,
		dtmf: policy, policies: policies, keys: keyFilter{window: e.dedupeWindow()}, trunk: trunk}
	if first == nil {
		first = newMenuPhase(menu)
	}
	return e.runCall(ctx, c, first)
}

// answered is an answered Inbound as a Leg.
type answered struct{ Inbound }

func (a answered) Hangup(ctx context.Context) error { return a.Inbound.Hangup(ctx, nil) }

// runCall runs an answered call, inbound or outbound, from its first phase to its end, and
// finishes its record: counted in the metrics, listed in the admin API, logged once.
func (e *Engine) runCall(ctx context.Context, c *call, first phase) (err error) {
	e.watch(c.leg, c.m)
	e.metrics.callsActive.Inc()
	c.publish()
	defer func() {
		if p := recover(); p != nil { // STYLE.md C7
			err = fmt.Errorf("call %s: panic: %v", c.rec.CallID, p)
			c.rec.Outcome = OutcomeError
		}
		e.metrics.callsActive.Dec()
		e.finish(c.rec, err)
	}()
	return c.run(ctx, first)
}

// watch arms the dead-media watch of a leg's media (media.rtp_timeout; media.hold_timeout
// while the far end's SDP holds the call, its re-INVITE and UPDATE offers included): the
// call hears of it as rtpTimeoutEvent, or peerGoneEvent for a bridged peer.
func (e *Engine) watch(l any, m Media) {
	w, ok := m.(silenceWatcher)
	if !ok {
		return
	}
	if a, ok := l.(answered); ok {
		l = a.Inbound
	}
	if r, ok := l.(interface{ RemoteSDP() []byte }); ok && len(r.RemoteSDP()) > 0 {
		w.SetHeld(media.SDPHolds(r.RemoteSDP())) // a late offer's answer came in the ACK: the reinviter set it
	}
	if o, ok := l.(interface{ OnOffer(func(sdp []byte)) }); ok {
		o.OnOffer(func(sdp []byte) { w.SetHeld(media.SDPHolds(sdp)) })
	}
	w.WatchSilence(e.cfg.Media.RTPTimeout, e.cfg.Media.HoldTimeout)
}

// finish closes a call's record: its end, its outcome, the prompts that never started
// dropped. Nothing is appended to it afterwards.
func (e *Engine) finish(rec *CallRecord, err error) {
	end := e.now()
	rec.End = &end
	if rec.Outcome == "" {
		rec.Outcome = OutcomeError
	}
	n := len(rec.Prompts) // listed when due; those due after the end never started
	for n > 0 && rec.Prompts[n-1].At.After(end) {
		n--
	}
	rec.Prompts = rec.Prompts[:n]
	e.records.finish(rec)
	e.metrics.callsTotal.WithLabelValues(rec.Direction, rec.Kind, rec.Outcome).Inc()
	if err != nil {
		e.log.Warn("call ended", "call_id", rec.CallID, "kind", rec.Kind, "outcome", rec.Outcome, "err", err)
	} else {
		e.log.Info("call ended", "call_id", rec.CallID, "kind", rec.Kind, "outcome", rec.Outcome,
			"nodes", len(rec.Nodes), "keys", len(rec.Keys))
	}
}

// Drain stops starting calls of the engine's own: callbacks due are postponed (kept in the
// store for the next start), while calls in progress go on, agents rung for them included.
func (e *Engine) Drain() { e.draining.Store(true) }

// CallsInProgress returns how many calls are up (live call records): what a graceful stop
// waits for.
func (e *Engine) CallsInProgress() int { return e.records.liveCount() }

// MenuVersion returns the version of the menu new calls get.
func (e *Engine) MenuVersion() string { return e.menu.Load().Tree.Version() }
