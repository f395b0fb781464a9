package sip

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// dialogSession is what a Call needs of sipgo's client or server dialog
// session (*sipgo.DialogClientSession, *sipgo.DialogServerSession).
type dialogSession interface {
	WriteBye(ctx context.Context, bye *sipmsg.Request) error
	ReadBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) error
	Do(ctx context.Context, req *sipmsg.Request) (*sipmsg.Response, error)
}

var (
	_ dialogSession = (*sipgo.DialogClientSession)(nil)
	_ dialogSession = (*sipgo.DialogServerSession)(nil)
)

// Call is an answered call the Server placed (Server.Dial). Its methods may
// be used from any goroutine.
type Call struct {
	sess      dialogSession
	id        string // Call-ID
	dialogID  string // as computed for requests the far end sends us
	remoteSDP []byte
	localSDP  []byte
	target    sipmsg.Uri // remote target: the far end's Contact
	userAgent string
	// dest and laddr, when set, pin where in-dialog requests go and the
	// UDP socket they leave from (calls to registered contacts, which may
	// sit behind NAT, and calls from a Server's listening socket).
	dest    string
	laddr   sipmsg.Addr
	contact *sipmsg.ContactHeader // ours, for 2xx to a re-INVITE
	forget  func(*Call)           // removes the call from its owner's registry
	served  string                // Server calls: key of the socket the call rides on
	srvLog  func(msg string, args ...any)
	done    chan struct{}
	from    Party
	to      Party

	mu         sync.Mutex
	cause      error
	remoteCSeq uint32
	acks       map[uint32]chan struct{} // ACK awaited for our 2xx to a re-INVITE
	onInfo     func(contentType string, body []byte) int
}

func newCall(sess dialogSession, id, dialogID, userAgent string) *Call {
	return &Call{
		sess:      sess,
		id:        id,
		dialogID:  dialogID,
		userAgent: userAgent,
		done:      make(chan struct{}),
		acks:      make(map[uint32]chan struct{}),
	}
}

// ID returns the Call-ID.
func (c *Call) ID() string { return c.id }

// From returns the From party of the INVITE that set the call up: us, with
// the caller ID we sent.
func (c *Call) From() Party { return c.from }

// To returns the To party of the INVITE that set the call up.
func (c *Call) To() Party { return c.to }

// RemoteSDP returns the far end's SDP: the answer in its 2xx. It must not
// be modified.
func (c *Call) RemoteSDP() []byte { return c.remoteSDP }

// Done is closed when the call ends: the far end sent BYE, Hangup was
// called, or the Server's socket was closed.
func (c *Call) Done() <-chan struct{} { return c.done }

// Cause returns nil while the call is up; then ErrHangup when the far end
// sent BYE, ErrServerClosed when the Server's socket closed under it, or
// another error for a local end.
func (c *Call) Cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

// OnInfo sets the function that answers INFO requests in this dialog, with
// the same contract as Leg.OnInfo: it returns the response code (200-699,
// else 500), runs on a sipgo goroutine and must not block. Without it every
// INFO gets 200.
func (c *Call) OnInfo(f func(contentType string, body []byte) int) {
	c.mu.Lock()
	c.onInfo = f
	c.mu.Unlock()
}

func (c *Call) end(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cause != nil {
		return
	}
	c.cause = cause
	close(c.done)
}

// Hangup sends BYE and waits for its response, bounded by ctx. On a call
// that already ended it does nothing.
func (c *Call) Hangup(ctx context.Context) error {
	return c.hangup(ctx, errLocalHangup)
}

func (c *Call) hangup(ctx context.Context, cause error) error {
	if c.Cause() != nil {
		return nil
	}
	bye := sipmsg.NewRequest(sipmsg.BYE, *c.target.Clone())
	c.pin(bye)
	err := c.sess.WriteBye(ctx, bye)
	if c.forget != nil {
		c.forget(c)
	}
	c.end(cause)
	if err != nil {
		return fmt.Errorf("call %s: hangup: %w", c.id, err)
	}
	return nil
}

// pin applies the call's fixed destination and local socket, if any.
func (c *Call) pin(req *sipmsg.Request) {
	if c.dest != "" {
		req.SetDestination(c.dest)
	}
	if c.laddr.IP != nil {
		c.laddr.Copy(&req.Laddr)
	}
}

// SendInfo sends INFO in the dialog with the given body and waits for the
// final response; a non-2xx response returns a *RejectError.
func (c *Call) SendInfo(ctx context.Context, contentType string, body []byte) error {
	if cause := c.Cause(); cause != nil {
		return fmt.Errorf("call %s: info: %w", c.id, cause)
	}
	req := sipmsg.NewRequest(sipmsg.INFO, *c.target.Clone())
	req.AppendHeader(sipmsg.NewHeader("User-Agent", c.userAgent))
	if contentType != "" {
		req.AppendHeader(sipmsg.NewHeader("Content-Type", contentType))
	}
	req.SetBody(body)
	c.pin(req)
	res, err := c.sess.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("call %s: info: %w", c.id, err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("call %s: info: %w", c.id, &RejectError{Code: res.StatusCode, Reason: res.Reason})
	}
	return nil
}

// remoteBye answers the far end's BYE and ends the call with ErrHangup.
func (c *Call) remoteBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	// ReadBye answers 200 and ends sipgo's dialog, or refuses a BYE with
	// a CSeq below the INVITE's (RFC 3261 §12.2.2: 500).
	if err := c.sess.ReadBye(req, tx); errors.Is(err, sipgo.ErrDialogInvalidCseq) {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 500, statusText(500), nil))
		return
	}
	if c.forget != nil {
		c.forget(c)
	}
	c.end(ErrHangup)
}

// inSequence checks and records the remote CSeq (RFC 3261 §12.2.2).
func (c *Call) inSequence(req *sipmsg.Request) bool {
	cseq := req.CSeq()
	if cseq == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cseq.SeqNo < c.remoteCSeq {
		return false
	}
	c.remoteCSeq = cseq.SeqNo
	return true
}

// info runs the OnInfo hook and returns the response code.
func (c *Call) info(contentType string, body []byte) (code int) {
	c.mu.Lock()
	f := c.onInfo
	c.mu.Unlock()
	if f == nil {
		return 200
	}
	defer func() {
		if r := recover(); r != nil {
			if c.srvLog != nil {
				c.srvLog("INFO hook panic", "call_id", c.id, "panic", r)
			}
			code = 500
		}
	}()
	code = f(contentType, body)
	if code < 200 || code > 699 {
		code = 500
	}
	return code
}

// awaitACK registers interest in the ACK with CSeq n.
func (c *Call) awaitACK(n uint32) <-chan struct{} {
	ch := make(chan struct{})
	c.mu.Lock()
	c.acks[n] = ch
	c.mu.Unlock()
	return ch
}

// acked delivers an ACK with CSeq n.
func (c *Call) acked(n uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.acks[n]; ok {
		close(ch)
		delete(c.acks, n)
	}
}

func (c *Call) forgetACK(n uint32) {
	c.mu.Lock()
	delete(c.acks, n)
	c.mu.Unlock()
}

// fill completes the Call of an INVITE we sent, once answered.
func (c *Call) fill(sess *sipgo.DialogClientSession) {
	inv, res := sess.InviteRequest, sess.InviteResponse
	c.id = inv.CallID().Value()
	c.dialogID = sess.ID
	c.remoteSDP = res.Body()
	c.target = *inv.Recipient.Clone()
	if ct := res.Contact(); ct != nil {
		c.target = *ct.Address.Clone()
	}
	c.from = partyOf(inv.From().DisplayName, inv.From().Address)
	c.to = partyOf(res.To().DisplayName, res.To().Address)
}
