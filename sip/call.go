package sip

import (
	"context"
	"fmt"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

// Call is an answered call the Server placed (Server.Dial). Its methods may
// be used from any goroutine. The far end's BYE, INFO and re-INVITE are
// served as in a Leg.
type Call struct {
	dialog
	sess      *sipgo.DialogClientSession
	dialogID  string // as computed for requests the far end sends us
	remoteSDP []byte
	target    sipmsg.Uri // remote target: the far end's Contact
	// dest and laddr, when set, pin where in-dialog requests go and the
	// UDP socket they leave from (calls to registered contacts, which may
	// sit behind NAT, and calls from a Server's listening socket).
	dest   string
	laddr  sipmsg.Addr
	served string // key of the served socket the call rides on
	from   Party
	to     Party
	source string // host:port the 2xx came from
}

// ID returns the Call-ID.
func (c *Call) ID() string { return c.id }

// Source returns the host:port the answer (2xx) came from: the far end's signalling
// address as we see it (a NAT's public address for a phone behind one).
func (c *Call) Source() string { return c.source }

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
func (c *Call) Cause() error { return c.causeOf() }

// OnInfo sets the function that answers INFO requests in this dialog, with
// the same contract as Leg.OnInfo: it returns the response code (200-699,
// else 500), runs on a sipgo goroutine and must not block. Without it every
// INFO gets 200.
func (c *Call) OnInfo(f func(contentType string, body []byte) int) { c.setOnInfo(f) }

// OnReinvite sets the function that answers the far end's re-INVITEs with an offer, as
// Leg.OnReinvite does (hold, a new address, a session refresh with SDP). Without it a
// re-INVITE gets our last SDP again. f runs on sipgo's goroutine and must not block.
func (c *Call) OnReinvite(f func(offer []byte) (answer []byte, code int)) { c.setOnReinvite(f) }

// Hangup sends BYE and waits for its response, bounded by ctx. On a call
// that already ended, or is being hung up, it does nothing.
func (c *Call) Hangup(ctx context.Context) error {
	return c.hangupWith(ctx, errLocalHangup)
}

func (c *Call) hangupWith(ctx context.Context, cause error) error {
	if err := c.hangup(ctx, cause); err != nil {
		return fmt.Errorf("call %s: hangup: %w", c.id, err)
	}
	return nil
}

// terminate implements dialogUA: a Call is answered from the start.
func (c *Call) terminate(ctx context.Context, _ bool, _ error) error {
	bye := sipmsg.NewRequest(sipmsg.BYE, *c.target.Clone())
	c.pin(bye)
	err := c.sess.WriteBye(ctx, bye)
	c.srv.forgetCall(c)
	return err
}

// answerBye implements dialogUA: sipgo answers 200 and ends its session
// (and the INVITE transaction).
func (c *Call) answerBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	_ = c.sess.ReadBye(req, tx)
	c.srv.forgetCall(c)
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
	if !c.srv.beginSend() {
		return fmt.Errorf("call %s: info: %w", c.id, ErrServerClosed)
	}
	defer c.srv.endSend()
	req := sipmsg.NewRequest(sipmsg.INFO, *c.target.Clone())
	req.AppendHeader(sipmsg.NewHeader("User-Agent", c.srv.cfg.UserAgent))
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

// fill completes the Call of an INVITE we sent, once answered with a 2xx.
func (c *Call) fill(sess *sipgo.DialogClientSession) {
	inv, res := sess.InviteRequest, sess.InviteResponse
	c.id = inv.CallID().Value()
	c.dialogID = sess.ID
	c.remoteSDP = res.Body()
	c.source = res.Source()
	c.target = *inv.Recipient.Clone()
	if ct := res.Contact(); ct != nil {
		c.target = *ct.Address.Clone()
	}
	c.from = partyOf(inv.From().DisplayName, inv.From().Address)
	c.to = partyOf(res.To().DisplayName, res.To().Address)
	c.answered = true // before the Call is shared: no lock
}
