package ivr

import (
	"context"
	"time"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/queue/store"
	"github.com/hotline-ivr/hotline/sip"
)

// The interfaces ivr talks to the world through (STYLE.md B1): each is owned here, has five
// methods or fewer, and is satisfied by a concrete type of sip, media or queue/store; cmd
// wires the concrete ones, unit tests pass fakes. Guards are in harness_test.go.

// Leg is one signalling leg of a call, inbound or outbound, once it is established.
type Leg interface {
	ID() string
	// Hangup ends the leg from our side (BYE); it returns once the far end answered or
	// gave up.
	Hangup(ctx context.Context) error
	// Done is closed when the leg ended, by either side.
	Done() <-chan struct{}
}

// Inbound is a call as the signalling layer offers it, before it is answered. *sip.Leg is one.
type Inbound interface {
	ID() string
	RemoteSDP() []byte
	Answer(ctx context.Context, sdp []byte) error
	Hangup(ctx context.Context, cause error) error
	Done() <-chan struct{}
}

// offerer is what an Inbound also is when it can take an INVITE without SDP (late offer,
// RFC 3261 §13.2.1); *sip.Leg is one. It is apart from Inbound to keep both small (STYLE.md
// B1): ServeCall answers such an INVITE with an offer of ours when the leg is an offerer,
// and refuses it with 488 otherwise.
type offerer interface {
	// AnswerOffer sends 200 with our offer and returns the answer the ACK carries (nil
	// when none), once the ACK is in.
	AnswerOffer(ctx context.Context, offer []byte) (answer []byte, err error)
}

// Media is the audio side of a leg: what the call plays and hears. *media.Session is one.
type Media interface {
	// Play plays prompts once, replacing what was playing; the returned id comes back on
	// Done when the last prompt has ended (or was stopped by a later Play, Loop or Stop).
	Play(prompts ...*media.Prompt) uint64
	// Loop plays prompts over and over until replaced or stopped.
	Loop(prompts ...*media.Prompt) uint64
	Stop()
	Digits() <-chan media.Digit
	Done() <-chan uint64
}

// silenceWatcher is media that tells when its far end fell silent, a caller or agent gone
// without a BYE; apart from Media to keep each at five methods or fewer (STYLE.md B1).
// *media.Session is one.
type silenceWatcher interface {
	// WatchSilence arms the watch: Silent closes once no RTP came for rtp, or for hold
	// while the far end holds the call (0: never).
	WatchSilence(rtp, hold time.Duration)
	// SetHeld says whether the far end's SDP holds the call (media.SDPHolds).
	SetHeld(held bool)
	Silent() <-chan struct{}
}

// Dialer places outbound SIP calls (agents, callbacks); *sip.Server is one.
type Dialer interface {
	Dial(ctx context.Context, target string, sdp []byte, o sip.DialOptions) (*sip.Call, error)
}

// legDialer places an outbound leg with its media up: the engine's own, over a Dialer and
// the RTP port pool (rtpDialer), or a fake in unit tests.
type legDialer interface {
	dialLeg(ctx context.Context, id, target string, o sip.DialOptions) (*peer, error)
}

// bridger connects the audio of two legs until the returned stop is called.
type bridger func(ctx context.Context, a, b Media, o ...bridgeOption) (stop func(), err error)

// bridgeOption changes how a bridger connects two legs.
type bridgeOption int

// takeDigitsB: b's RFC 4733 key presses are not relayed to a but stay on b.Digits for the
// call to read (a bridged agent's transfer codes, which the caller must not hear).
const takeDigitsB bridgeOption = 1

// callbackStore is what the dispatcher needs of the durable store to restore and dial
// callbacks. *store.DB is one.
type callbackStore interface {
	ClaimCallback(ctx context.Context, id int64, owner string, now time.Time, lease time.Duration) (store.Callback, error)
	StartAttempt(ctx context.Context, id int64, owner string, now time.Time, lease time.Duration) (store.Callback, error)
	RenewLease(ctx context.Context, id int64, owner string, now time.Time, lease time.Duration) error
	CompleteAttempt(ctx context.Context, id int64, owner string, now time.Time, outcome store.Outcome, retryAt time.Time) (store.Callback, error)
	ListCallbacks(ctx context.Context, f store.CallbackFilter) ([]store.Callback, error)
}

// callbackTaker is what the hold phase needs to keep a caller's callback: store it, take
// it back when an agent turned out to be there already, and audit a refused one.
// *store.DB is one.
type callbackTaker interface {
	AddCallback(ctx context.Context, nc store.NewCallback, now time.Time) (store.Callback, error)
	CancelCallback(ctx context.Context, id int64, now time.Time) error
	Audit(ctx context.Context, r store.AuditRecord) error
}

// placeStore keeps the places of callers who hung up on hold, for the queue's abandon
// window, across restarts. *store.DB is one.
type placeStore interface {
	SaveAbandoned(ctx context.Context, places ...store.Abandoned) error
	DeleteAbandoned(ctx context.Context, queue, caller string) error
	ListAbandoned(ctx context.Context, queue string, now time.Time) ([]store.Abandoned, error)
}

// peer is an answered outbound leg with its media: an agent, or a callback's customer.
type peer struct {
	id    string // the agent's ID, or "callback"
	leg   Leg
	m     Media
	close func() // releases the media (socket back to the pool); idempotent
}
