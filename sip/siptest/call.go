package siptest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/hotline-ivr/hotline/sip"
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

// Call is a call the Client placed (Client.Dial) or was offered
// (Client.OnInvite). Its methods may be used from any goroutine.
type Call struct {
	sess      dialogSession
	id        string // Call-ID
	dialogID  string // as computed for requests the far end sends us
	remoteSDP []byte
	localSDP  []byte     // our offer or answer: a re-INVITE gets it again
	target    sipmsg.Uri // remote target: the far end's Contact
	userAgent string
	from, to  sip.Party
	forget    func(*Call) // removes the call from the Client's registry
	done      chan struct{}
	// answering, for a call the Client answers, is closed once its 200 has been written
	// (and ACKed or given up on): a BYE must not race the 2xx inside sipgo.
	answering chan struct{}

	mu         sync.Mutex
	cause      error
	remoteCSeq uint32
	onInfo     func(contentType string, body []byte) int
}

func newCall(sess dialogSession, userAgent string, forget func(*Call)) *Call {
	return &Call{sess: sess, userAgent: userAgent, forget: forget, done: make(chan struct{})}
}

// ID returns the Call-ID.
func (c *Call) ID() string { return c.id }

// From returns the From party of the INVITE that set the call up: us (the
// caller ID we sent) for a call we placed, the caller for one we answered.
func (c *Call) From() sip.Party { return c.from }

// To returns the To party of the INVITE that set the call up.
func (c *Call) To() sip.Party { return c.to }

// RemoteSDP returns the far end's SDP: the answer in the 2xx for a call we
// placed, the offer in the INVITE for one we answered. It must not be
// modified.
func (c *Call) RemoteSDP() []byte { return c.remoteSDP }

// Done is closed when the call ends: the far end sent BYE or CANCEL,
// Hangup was called, the answer failed, or the Client was closed.
func (c *Call) Done() <-chan struct{} { return c.done }

// Cause returns nil while the call is up; then sip.ErrHangup when the far
// end sent BYE, sip.ErrCanceled when it canceled an INVITE we were
// offered, a *sip.RejectError when we rejected it, or another error for a
// local end.
func (c *Call) Cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

// OnInfo sets the function that answers INFO requests in this dialog: it
// returns the response code (200-699, else 500), runs on a sipgo goroutine
// and must not block. Without it every INFO gets 200.
func (c *Call) OnInfo(f func(contentType string, body []byte) int) {
	c.mu.Lock()
	c.onInfo = f
	c.mu.Unlock()
}

// Hangup sends BYE and waits for its response, bounded by ctx. On a call
// that already ended it does nothing.
func (c *Call) Hangup(ctx context.Context) error {
	if c.answering != nil {
		select {
		case <-c.answering:
		case <-ctx.Done():
			return fmt.Errorf("call %s: hangup before the answer went out: %w", c.id, context.Cause(ctx))
		}
	}
	if c.Cause() != nil {
		return nil
	}
	bye := sipmsg.NewRequest(sipmsg.BYE, *c.target.Clone())
	err := c.sess.WriteBye(ctx, bye)
	c.forget(c)
	c.end(errLocalHangup)
	if err != nil {
		return fmt.Errorf("call %s: hangup: %w", c.id, err)
	}
	return nil
}

// SendInfo sends INFO in the dialog with the given body and waits for the
// final response; a non-2xx response returns a *sip.RejectError.
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
	res, err := c.sess.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("call %s: info: %w", c.id, err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("call %s: info: %w", c.id, &sip.RejectError{Code: res.StatusCode, Reason: res.Reason})
	}
	return nil
}

// end closes Done with cause; the first cause wins.
func (c *Call) end(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cause != nil {
		return
	}
	c.cause = cause
	close(c.done)
}

// remoteBye answers the far end's BYE and ends the call with sip.ErrHangup.
func (c *Call) remoteBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	// ReadBye answers 200 and ends sipgo's dialog; a server session
	// refuses a BYE with a CSeq below the INVITE's (RFC 3261 §12.2.2: 500).
	if err := c.sess.ReadBye(req, tx); errors.Is(err, sipgo.ErrDialogInvalidCseq) {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 500, reason(500), nil))
		return
	}
	c.forget(c)
	c.end(sip.ErrHangup)
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
		if recover() != nil {
			code = 500
		}
	}()
	code = f(contentType, body)
	if code < 200 || code > 699 {
		code = 500
	}
	return code
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

func partyOf(display string, u sipmsg.Uri) sip.Party {
	return sip.Party{User: u.User, Display: display, URI: u.Addr()}
}

// mediaTypeRaw returns the Content-Type header value, or "".
func mediaTypeRaw(req *sipmsg.Request) string {
	if h := req.GetHeader("Content-Type"); h != nil {
		return strings.TrimSpace(h.Value())
	}
	return ""
}
