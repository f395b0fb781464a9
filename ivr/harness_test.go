package ivr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/menus"
	"github.com/hotline-ivr/hotline/queue"
	"github.com/hotline-ivr/hotline/queue/store"
	"github.com/hotline-ivr/hotline/sip"
)

// The unit-test kit of the call model: fakes behind the interfaces ivr owns (ports.go), run
// inside testing/synctest bubbles so that a 10 s timer passes at once and "after every
// goroutine settled" (synctest.Wait) replaces sleeping.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Interface guards: the concrete types cmd wires satisfy what ivr asks of them.
var (
	_ Inbound       = (*sip.Leg)(nil)
	_ Leg           = (*sip.Call)(nil)
	_ Media         = (*media.Session)(nil)
	_ Dialer        = (*sip.Server)(nil)
	_ callbackStore = (*store.DB)(nil)
	_ placeStore    = (*store.DB)(nil)
	_ Leg           = (*fakeLeg)(nil)
	_ Media         = (*fakeMedia)(nil)
	_ callbackTaker = (*store.DB)(nil)
	_ legDialer     = (*fakeDialer)(nil)
	_ callbackTaker = (*testStore)(nil)
	_ placeStore    = (*testStore)(nil)
)

// fakeLeg is a signalling leg: the test hangs it up as the far end (farHangup), the call
// as us (Hangup).
type fakeLeg struct {
	id     string
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	byUs   bool
	hungUp int
}

func newFakeLeg(id string) *fakeLeg { return &fakeLeg{id: id, done: make(chan struct{})} }

func (l *fakeLeg) ID() string            { return l.id }
func (l *fakeLeg) Done() <-chan struct{} { return l.done }
func (l *fakeLeg) Hangup(context.Context) error {
	l.mu.Lock()
	l.hungUp++
	l.mu.Unlock()
	l.once.Do(func() {
		l.mu.Lock()
		l.byUs = true
		l.mu.Unlock()
		close(l.done)
	})
	return nil
}

// farHangup is the far end hanging up (a BYE from the caller).
func (l *fakeLeg) farHangup() { l.once.Do(func() { close(l.done) }) }

func (l *fakeLeg) hungUpByUs() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byUs
}

// fakeMedia plays prompts for their real duration on the bubble's clock and reports the
// end of each playback that was not replaced, as media.Session does.
type fakeMedia struct {
	mu      sync.Mutex
	digits  chan media.Digit
	done    chan uint64
	id      uint64
	cur     *time.Timer
	loop    string // the prompt looping, "" when none
	played  []string
	closed  bool
	bridged Media
	takeB   bool   // bridged keeping its peer's key presses: none relayed to this leg
	panicOn string // Play panics when asked to play this prompt (a bug in a phase, simulated)

	// The dead-media watch (silenceWatcher): the far end streams until vanish; then silent
	// closes after the timeout WatchSilence set (the hold one while held), as in media.
	silent     chan struct{}
	rtp, hold  time.Duration
	held, gone bool
	quiet      *time.Timer
	silentShut bool
}

func newFakeMedia() *fakeMedia {
	return &fakeMedia{digits: make(chan media.Digit, 16), done: make(chan uint64, 4), silent: make(chan struct{})}
}

func (f *fakeMedia) WatchSilence(rtp, hold time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rtp, f.hold = rtp, hold
	f.watchLocked()
}

func (f *fakeMedia) SetHeld(held bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held != held {
		f.held = held
		f.watchLocked() // each change restarts the count, as in media
	}
}

func (f *fakeMedia) Silent() <-chan struct{} { return f.silent }

// vanish is the far end going without a word: its RTP stops now.
func (f *fakeMedia) vanish() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gone = true
	f.watchLocked()
}

func (f *fakeMedia) watchLocked() {
	if f.quiet != nil {
		f.quiet.Stop()
		f.quiet = nil
	}
	limit := f.rtp
	if f.held {
		limit = f.hold
	}
	if !f.gone || limit <= 0 || f.silentShut {
		return
	}
	f.quiet = time.AfterFunc(limit, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !f.silentShut {
			f.silentShut = true
			close(f.silent)
		}
	})
}

func (f *fakeMedia) replaceLocked() {
	if f.cur != nil {
		f.cur.Stop()
		f.cur = nil
	}
	f.loop = ""
}

func (f *fakeMedia) Play(ps ...*media.Prompt) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replaceLocked()
	f.id++
	id := f.id
	var total time.Duration
	for _, p := range ps {
		if p.Name() == f.panicOn {
			panic("play " + p.Name())
		}
		total += p.Duration()
		f.played = append(f.played, p.Name())
	}
	f.cur = time.AfterFunc(total, func() {
		select {
		case f.done <- id:
		default:
		}
	})
	return id
}

func (f *fakeMedia) Loop(ps ...*media.Prompt) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replaceLocked()
	f.id++
	if len(ps) > 0 {
		f.loop = ps[0].Name()
	}
	return f.id
}

func (f *fakeMedia) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replaceLocked()
}

func (f *fakeMedia) Digits() <-chan media.Digit { return f.digits }
func (f *fakeMedia) Done() <-chan uint64        { return f.done }

// press is the far end pressing keys, each reported once by RFC 4733, 300 ms apart.
func (f *fakeMedia) press(keys string) {
	for i := range len(keys) {
		f.digits <- media.Digit{Key: keys[i], Mode: media.ModeRFC4733, At: time.Now()}
		time.Sleep(300 * time.Millisecond)
	}
}

func (f *fakeMedia) looping() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loop
}

func (f *fakeMedia) heard() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.played)
}

// fakeDialer rings whoever the dispatcher dials; the test answers or declines each ring.
type fakeDialer struct{ rings chan *ring }

type ring struct {
	id, target string
	opts       sip.DialOptions
	ctx        context.Context
	reply      chan ringReply
}

type ringReply struct {
	p   *peer
	err error
}

func newFakeDialer() *fakeDialer { return &fakeDialer{rings: make(chan *ring, 64)} }

func (d *fakeDialer) dialLeg(ctx context.Context, id, target string, o sip.DialOptions) (*peer, error) {
	r := &ring{id: id, target: target, opts: o, ctx: ctx, reply: make(chan ringReply, 1)}
	d.rings <- r
	select {
	case rep := <-r.reply:
		return rep.p, rep.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// answer picks up: the returned leg and media are the far end's view.
func (r *ring) answer(callID string) (*fakeLeg, *fakeMedia) {
	l, m := newFakeLeg(callID), newFakeMedia()
	r.reply <- ringReply{p: &peer{id: r.id, leg: l, m: m, close: func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
	}}}
	return l, m
}

func (r *ring) decline(code int) {
	r.reply <- ringReply{err: &sip.RejectError{Code: code, Reason: "Busy Here"}}
}

// next returns the next ring, failing the test when none came.
func (d *fakeDialer) next(t *testing.T) *ring {
	t.Helper()
	select {
	case r := <-d.rings:
		return r
	default:
		t.Fatal("nobody was rung")
		return nil
	}
}

func (d *fakeDialer) none(t *testing.T) {
	t.Helper()
	select {
	case r := <-d.rings:
		t.Fatalf("rang %s (%s), want nobody", r.target, r.id)
	default:
	}
}

// testStore is the real SQLite store in a temporary file (its state rules and leases are
// what the dispatcher must live with), with a fault to inject and a count of transactions
// that keep places.
type testStore struct {
	*store.DB
	mu      sync.Mutex
	failAdd bool
	saves   int
}

func newTestStore(t testing.TB) *testStore {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "hotline.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &testStore{DB: db}
}

func (s *testStore) AddCallback(ctx context.Context, nc store.NewCallback, now time.Time) (store.Callback, error) {
	s.mu.Lock()
	fail := s.failAdd
	s.mu.Unlock()
	if fail {
		return store.Callback{}, errors.New("disk full")
	}
	return s.DB.AddCallback(ctx, nc, now)
}

func (s *testStore) SaveAbandoned(ctx context.Context, places ...store.Abandoned) error {
	s.mu.Lock()
	s.saves++
	s.mu.Unlock()
	return s.DB.SaveAbandoned(ctx, places...)
}

// place is caller's kept place in queue q, if any.
func (s *testStore) place(q, caller string) (store.Abandoned, bool) {
	a, ok, err := s.LookupAbandoned(context.Background(), q, caller, time.Now())
	if err != nil {
		panic(err)
	}
	return a, ok
}

func (s *testStore) callback(id int64) store.Callback {
	cb, err := s.Callback(context.Background(), id)
	if err != nil {
		panic(err)
	}
	return cb
}

// prompt is a prompt of d of silence, named name.
func prompt(name string, d time.Duration) *media.Prompt {
	return media.NewPrompt(name, make([]int16, int(d/time.Millisecond)*8))
}

// testMenuConfig is a small tree: main (1: sub, 2: info, 4: queue support, 0: goodbye),
// sub (*: back), global key 9: freeze.
func testMenuConfig() menus.Config {
	ps := map[string]menus.PromptConfig{}
	for _, n := range []string{"main", "sub", "info", "invalid", "timeout", "goodbye", "connecting_you"} {
		ps[n] = menus.PromptConfig{File: n + ".wav", Text: n}
	}
	for _, n := range LanePrompts() {
		ps[n] = menus.PromptConfig{File: n + ".wav", Text: n}
	}
	ps[PromptFreezeOfferAgent] = menus.PromptConfig{File: "offer.wav", Text: "press 1 for a person"}
	return menus.Config{
		Root: "main", DigitTimeout: 3 * time.Second, MaxRetries: 2,
		InvalidPrompt: "invalid", TimeoutPrompt: "timeout", GoodbyePrompt: "goodbye",
		Prompts:    ps,
		GlobalKeys: map[string]menus.OptionConfig{"9": {Action: menus.ActionFreeze}},
		Nodes: map[string]menus.NodeConfig{
			"main": {Prompt: "main", Options: map[string]menus.OptionConfig{
				"1": {Action: menus.ActionGoto, Target: "sub"},
				"2": {Action: menus.ActionPlay, Prompt: "info"},
				"4": {Action: menus.ActionEnqueue, Queue: "support", Prompt: "connecting_you"},
				"0": {Action: menus.ActionHangup, Prompt: "goodbye"},
			}},
			"sub": {Prompt: "sub", Options: map[string]menus.OptionConfig{
				"*": {Action: menus.ActionGoto, Target: "main"},
			}},
		},
	}
}

// testMenu compiles testMenuConfig with every prompt lasting a second.
func testMenu(t testing.TB) *Menu {
	t.Helper()
	tree, err := menus.CompileWith(testMenuConfig(), menus.CompileOptions{Enabled: map[string]bool{
		menus.ActionFreeze: true, menus.ActionEnqueue: true}})
	if err != nil {
		t.Fatal(err)
	}
	ps := map[string]*media.Prompt{}
	for _, r := range tree.PromptRefs() {
		ps[r.ID] = prompt(r.ID, time.Second)
	}
	return &Menu{Tree: tree, Prompts: ps}
}

// newTestEngine is an engine on the test menu with the system prompts, no sockets.
func newTestEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := NewEngine(Config{Media: media.Config{RTPAddress: "127.0.0.1"}}, testMenu(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e.sys = map[string]*media.Prompt{}
	names := []string{promptMusic, "goodbye"}
	for _, lang := range []string{media.LangEN, media.LangZH} {
		names = append(names, media.SayPrompts(lang)...)
		for _, p := range queuePhrases {
			names = append(names, "queue/"+lang+"/"+p)
		}
	}
	for _, n := range names {
		e.sys[n] = prompt(n, time.Second)
	}
	e.sys[promptMusic] = prompt(promptMusic, 10*time.Second)
	e.bridge = func(_ context.Context, a, b Media, o ...bridgeOption) (func(), error) {
		fa, fb := a.(*fakeMedia), b.(*fakeMedia)
		fa.mu.Lock()
		fa.bridged = fb
		fa.takeB = slices.Contains(o, takeDigitsB)
		fa.mu.Unlock()
		return func() {
			fa.mu.Lock()
			fa.bridged = nil
			fa.mu.Unlock()
		}, nil
	}
	return e
}

// testQueue is queue "support": ring 5 s, wrap-up 2 s, offer a callback after 60 s.
func testQueue() QueueConfig {
	return QueueConfig{Config: queue.Config{
		RingTimeout: 5 * time.Second, WrapUp: 2 * time.Second, MaxWait: 60 * time.Second,
		ServiceTime: 30 * time.Second, AbandonWindow: 10 * time.Minute, AnnounceInterval: 30 * time.Second,
		ExitKey: "#", Callback: queue.CallbackConfig{InitialDelay: time.Second, MaxAttempts: 2, RetryDelay: 10 * time.Second},
	}}
}

// phone is one inbound test call: its leg, its media, and the goroutine serving it.
type phone struct {
	id  string
	leg *fakeLeg
	m   *fakeMedia
	err chan error
}

// dial starts an inbound call from caller on e, in its first phase (the menu).
func dial(ctx context.Context, e *Engine, id, caller string) *phone {
	return dialWith(ctx, e, id, caller, nil)
}

// dialWith is dial with the record's signalling facts set by with (a trusted identity, a
// trunk) before the call starts.
func dialWith(ctx context.Context, e *Engine, id, caller string, with func(*CallRecord)) *phone {
	return dialInto(ctx, e, id, caller, with, nil)
}

// dialInto is dialWith starting in phase first (nil: the menu).
func dialInto(ctx context.Context, e *Engine, id, caller string, with func(*CallRecord), first phase) *phone {
	p := &phone{id: id, leg: newFakeLeg(id), m: newFakeMedia(), err: make(chan error, 1)}
	menu := e.menu.Load()
	rec := &CallRecord{CallID: id, Direction: DirectionInbound, Kind: KindCaller, Caller: Party{User: caller},
		TreeVersion: menu.Tree.Version(), Start: e.now()}
	if with != nil {
		with(rec)
	}
	c := &call{e: e, leg: p.leg, m: p.m, menu: menu, rec: rec, dtmf: callDTMF{rfc4733: true},
		keys: keyFilter{window: 250 * time.Millisecond}, trunk: "test"}
	if first == nil {
		first = newMenuPhase(menu)
	}
	go func() { p.err <- e.runCall(ctx, c, first) }()
	return p
}

// rec is the call's record as the admin API shows it.
func (p *phone) rec(t *testing.T, e *Engine) *CallRecord {
	t.Helper()
	r := e.records.find(p.id)
	if r == nil {
		t.Fatalf("call %s: no record", p.id)
	}
	return r
}

// ended waits for the call goroutine to return; the test fails if it has not.
func (p *phone) ended(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.err:
		return err
	default:
		t.Fatalf("call %s still running", p.id)
		return nil
	}
}

// prompts lists the record's prompt names.
func prompts(r *CallRecord) string {
	var out []string
	for _, p := range r.Prompts {
		out = append(out, p.Prompt)
	}
	return strings.Join(out, " ")
}

func phases(r *CallRecord) string {
	var out []string
	for _, p := range r.Phases {
		out = append(out, p.Phase)
	}
	return strings.Join(out, " ")
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var _ = fmt.Sprint

var errStopping = errors.New("server stopping")

func mediaDigit(k byte, mode string, at time.Time) media.Digit {
	return media.Digit{Key: k, Mode: media.DTMFMode(mode), At: at}
}

// metricText is what /metrics serves.
func metricText(t *testing.T, e *Engine) string {
	t.Helper()
	rr := httptest.NewRecorder()
	NewAdmin(e).ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	return rr.Body.String()
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
