package ivr

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
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
}

// Config configures an Engine.
type Config struct {
	Media media.Config
	Admin AdminConfig
	DTMF  DTMFConfig
	// MaxCalls is the admission limit: calls beyond it are refused with 503 before
	// anything is allocated; 0: no limit. Calls already in progress keep
	// everything they need, the freeze lane included, so the limit is the headroom.
	MaxCalls int
}

// Leg is the caller's side of a call as the engine needs it (STYLE.md B1).
// *sip.Leg satisfies it.
type Leg interface {
	ID() string
	RemoteSDP() []byte
	Answer(ctx context.Context, sdp []byte) error
	Hangup(ctx context.Context, cause error) error
	Done() <-chan struct{}
}

// CallInfo is what the signalling layer knows of a call beyond the Leg.
type CallInfo struct {
	Caller Party
	// Asserted is the P-Asserted-Identity a carrier vouched for (RFC 3325), when given;
	// the freeze lane identifies the caller by it before the From user.
	Asserted *Party
	Source   string
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
	cfg      Config
	menu     atomic.Pointer[Menu]
	pool     *media.PortPool
	records  *records
	metrics  *metrics
	log      *slog.Logger
	rtpIP    netip.Addr
	now      func() time.Time
	reload   reloader
	active   atomic.Int64 // calls admitted, for the admission limit
	freeze   *freezer     // nil until EnableFreeze
	dispatch *dispatcher  // nil until EnableQueues
	store    *store.DB    // nil until SetStore
	sys      map[string]*media.Prompt
}

// SetStore gives the engine its durable store (callbacks; the freeze lane brings its own).
func (e *Engine) SetStore(db *store.DB) { e.store = db }

// LoadSystemPrompts loads the prompts hold queues speak with, from fsys: music on hold
// ("moh.wav") and media.SayPrompts for each language ("numbers/en/20.wav", ...).
func (e *Engine) LoadSystemPrompts(fsys fs.FS) error {
	names := []string{promptMusic}
	names = append(names, "queue/en/agent_ready", "queue/en/agent_paused", "queue/en/agent_logged_out", "queue/en/agent_unknown")
	for _, lang := range []string{media.LangEN, media.LangZH} {
		names = append(names, media.SayPrompts(lang)...)
		for _, p := range []string{promptCallbackOffer, promptCallbackConfirmed, promptConnecting} {
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
	if err := errors.Join(cfg.Media.Validate(), cfg.DTMF.Validate()); err != nil {
		return nil, err
	}
	ip, err := cfg.Media.Addr()
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
		rtpIP:   ip,
		now:     time.Now,
	}
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
			Info:   info,
		}
		ci.reinvite = newReinviter()
		l.OnReinvite(ci.reinvite.answer)
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
)

// ServeCall answers the leg and runs the call until it ends. It runs on the call's own
// goroutine (STYLE.md C1) and returns when the call is over.
func (e *Engine) ServeCall(ctx context.Context, leg Leg, info CallInfo) (err error) {
	if max := e.cfg.MaxCalls; max > 0 {
		if n := e.active.Add(1); n > int64(max) {
			e.active.Add(-1)
			e.metrics.callsTotal.WithLabelValues(OutcomeShed).Inc()
			return &sip.RejectError{Code: 503, Reason: "Service Unavailable",
				Err: fmt.Errorf("call %s: %d calls in progress (limit %d): %w", leg.ID(), n-1, max, errShed)}
		}
		defer e.active.Add(-1)
	}
	menu := e.menu.Load()
	rec := &CallRecord{
		CallID:      leg.ID(),
		Caller:      info.Caller,
		Asserted:    info.Asserted,
		Source:      info.Source,
		TreeVersion: menu.Tree.Version(),
		Start:       e.now(),
	}
	e.metrics.callsActive.Inc()
	e.records.publish(rec)
	defer func() {
		if p := recover(); p != nil { // STYLE.md C7
			err = fmt.Errorf("call %s: panic: %v", leg.ID(), p)
			rec.Outcome = OutcomeError
		}
		end := e.now()
		rec.End = &end
		if rec.Outcome == "" {
			rec.Outcome = OutcomeError
		}
		e.records.finish(rec)
		e.metrics.callsActive.Dec()
		e.metrics.callsTotal.WithLabelValues(rec.Outcome).Inc()
		if err != nil {
			e.log.Warn("call ended", "call_id", rec.CallID, "outcome", rec.Outcome, "err", err)
		} else {
			e.log.Info("call ended", "call_id", rec.CallID, "outcome", rec.Outcome,
				"nodes", len(rec.Nodes), "keys", len(rec.Keys))
		}
	}()

	conn, err := e.pool.Listen()
	if err != nil {
		rec.Outcome = OutcomeRejected
		return &sip.RejectError{Code: 503, Reason: "Service Unavailable", Err: fmt.Errorf("call %s: rtp port: %w", leg.ID(), err)}
	}
	defer e.pool.Release(conn)
	local := netip.AddrPortFrom(e.rtpIP, uint16(conn.LocalAddr().(*net.UDPAddr).Port))
	answer, neg, err := sdp.Answer(leg.RemoteSDP(), sdp.AnswerOptions{
		Addr:      local,
		Codecs:    e.cfg.Media.CodecNames(),
		SessionID: uint64(e.now().UnixNano()),
	})
	if err != nil {
		rec.Outcome = OutcomeRejected
		return &sip.RejectError{Code: 488, Reason: "Not Acceptable Here", Err: fmt.Errorf("call %s: sdp: %w", leg.ID(), err)}
	}
	rec.Codec = string(neg.Codec.Name)

	mode, trunk, lang := e.cfg.DTMF.resolve(info.Source, info.Caller.User)
	rec.DTMFMode, rec.Language = mode, lang
	policy := newCallDTMF(mode, neg.DTMFPT != 0)
	sess := media.NewSession(conn, media.SessionConfig{Codec: neg.Codec, DTMFPT: neg.DTMFPT, Remote: neg.Remote, Inband: policy.inband})
	sess.Start(ctx)
	defer func() {
		sess.Close()
		e.metrics.addSession(sess.Stats())
	}()
	var policies <-chan callDTMF
	if info.reinvite != nil {
		info.reinvite.ready(local, neg.Codec, mode, sess)
		policies = info.reinvite.policy
	}

	if err := leg.Answer(ctx, answer); err != nil {
		rec.Outcome = outcomeFromCause(ctx, OutcomeError)
		return err // sip already says "call <id>: answer: ..."
	}
	window := e.cfg.DTMF.DedupeWindow
	if window == 0 {
		window = 250 * time.Millisecond
	}
	c := &call{e: e, leg: leg, sess: sess, menu: menu, machine: menus.NewMachine(menu.Tree), rec: rec,
		info: info.Info, dtmf: policy, policies: policies, keys: keyFilter{window: window}, trunk: trunk}
	return c.run(ctx)
}

// outcomeFromCause maps the call context's cause to an outcome.
func outcomeFromCause(ctx context.Context, otherwise string) string {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, sip.ErrHangup), errors.Is(cause, sip.ErrCanceled):
		return OutcomeCallerHangup
	case cause != nil:
		return OutcomeShutdown
	}
	return otherwise
}

// MenuVersion returns the version of the menu new calls get.
func (e *Engine) MenuVersion() string { return e.menu.Load().Tree.Version() }
