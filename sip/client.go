package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

const (
	defaultClientUserAgent = "Hotline-Phone"
	defaultClientHost      = "127.0.0.1"
	defaultFromUser        = "phone"
	clientAllow            = "ACK, BYE, CANCEL, INFO, OPTIONS"
)

// ClientConfig configures a Client. The zero value is valid.
type ClientConfig struct {
	UserAgent string // User-Agent header; default "Hotline-Phone"
	Host      string // IP to bind and advertise; default "127.0.0.1"
}

// DialOptions are per-call settings of Client.Dial.
type DialOptions struct {
	FromUser    string // user part of From and Contact; default "phone"
	FromDisplay string // display name in From; may be empty
	Transport   string // "udp" (default) or "tcp"
}

// Client is a SIP user agent client (UAC): the test phone. It also serves
// requests on its own ephemeral UDP and TCP ports, which its Contact
// advertises, so the far end can send BYE and INFO in the dialog.
type Client struct {
	cfg  ClientConfig
	ua   *sipgo.UserAgent
	sg   *sipgo.Server
	udp  *sipgo.Client // sends from the UDP listening socket
	tcp  *sipgo.Client
	pc   net.PacketConn
	ln   net.Listener
	udpP int
	tcpP int
	wg   sync.WaitGroup

	mu     sync.Mutex
	calls  map[string]*Call // by dialog ID
	closed bool
}

// NewClient binds cfg.Host on ephemeral UDP and TCP ports and starts
// serving them. Close releases them.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.UserAgent == "" {
		cfg.UserAgent = defaultClientUserAgent
	}
	if cfg.Host == "" {
		cfg.Host = defaultClientHost
	}
	if net.ParseIP(cfg.Host) == nil {
		return nil, fmt.Errorf("sip: new client: host %q is not an IP", cfg.Host)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(cfg.UserAgent), sipgo.WithUserAgentHostname(cfg.Host))
	if err != nil {
		return nil, fmt.Errorf("sip: new client: %w", err)
	}
	c := &Client{cfg: cfg, ua: ua, calls: make(map[string]*Call)}
	fail := func(err error) (*Client, error) {
		if c.pc != nil {
			_ = c.pc.Close()
		}
		if c.ln != nil {
			_ = c.ln.Close()
		}
		_ = ua.Close()
		return nil, fmt.Errorf("sip: new client: %w", err)
	}
	if c.sg, err = sipgo.NewServer(ua); err != nil {
		return fail(err)
	}
	bind := net.JoinHostPort(cfg.Host, "0")
	if c.pc, err = net.ListenPacket("udp", bind); err != nil {
		return fail(err)
	}
	if c.ln, err = net.Listen("tcp", bind); err != nil {
		return fail(err)
	}
	c.udpP = c.pc.LocalAddr().(*net.UDPAddr).Port
	c.tcpP = c.ln.Addr().(*net.TCPAddr).Port
	udpAddr := c.pc.LocalAddr().String()
	// Send UDP requests from the listening socket, like a phone: replies
	// and in-dialog requests then all arrive on the port Contact names.
	if c.udp, err = sipgo.NewClient(ua, sipgo.WithClientHostname(cfg.Host),
		sipgo.WithClientConnectionAddr(udpAddr)); err != nil {
		return fail(err)
	}
	if c.tcp, err = sipgo.NewClient(ua, sipgo.WithClientHostname(cfg.Host)); err != nil {
		return fail(err)
	}
	// sipgo registers the listening socket in its connection pool only once
	// ServeUDP's goroutine runs; a Dial before that would try to bind the
	// port again. Register it now (ServeUDP replaces the entry).
	ua.TransportLayer().Pool("udp").Add(udpAddr,
		&sipmsg.UDPConnection{PacketConn: c.pc, PacketAddr: udpAddr, Listener: true})

	c.sg.OnBye(c.onBye)
	c.sg.OnInfo(c.onInfo)
	c.sg.OnAck(func(*sipmsg.Request, sipmsg.ServerTransaction) {})
	c.sg.OnOptions(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		c.respond(tx, req, 200, sipmsg.NewHeader("Allow", clientAllow))
	})
	c.sg.OnNoRoute(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if !req.IsAck() {
			c.respond(tx, req, 405, sipmsg.NewHeader("Allow", clientAllow))
		}
	})

	c.wg.Add(2)
	go func() { defer c.wg.Done(); _ = c.sg.ServeUDP(c.pc) }()
	go func() { defer c.wg.Done(); _ = c.sg.ServeTCP(c.ln) }()
	return c, nil
}

// Close ends all calls without signalling (Call.Done closes), then closes
// the sockets and the user agent. Hang calls up first for a clean end.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	calls := make([]*Call, 0, len(c.calls))
	for _, call := range c.calls {
		calls = append(calls, call)
	}
	c.calls = map[string]*Call{}
	c.mu.Unlock()
	for _, call := range calls {
		call.end(errClosed)
	}
	err := errors.Join(c.pc.Close(), c.ln.Close())
	err = errors.Join(err, c.ua.Close())
	c.wg.Wait()
	if err != nil {
		return fmt.Errorf("sip: close client: %w", err)
	}
	return nil
}

// Dial sends an INVITE with sdp (application/sdp) to uri and waits for the
// final response. On 2xx it sends the ACK and returns the Call. A non-2xx
// final response returns a *RejectError with its code. When ctx is done
// before the answer, Dial sends CANCEL and returns the final response to
// the INVITE (normally 487) as a *RejectError wrapping ctx's cause.
func (c *Client) Dial(ctx context.Context, uri string, sdp []byte, o DialOptions) (*Call, error) {
	var ruri sipmsg.Uri
	if err := sipmsg.ParseUri(uri, &ruri); err != nil {
		return nil, fmt.Errorf("dial %s: %w", uri, err)
	}
	transport := strings.ToLower(o.Transport)
	if transport == "" {
		transport = strings.ToLower(ruri.UriParams.GetOr("transport", "udp"))
	}
	if transport != "udp" && transport != "tcp" {
		return nil, fmt.Errorf("dial %s: unsupported transport %q", uri, transport)
	}
	user := o.FromUser
	if user == "" {
		user = defaultFromUser
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("dial %s: %w", uri, errClosed)
	}

	from := &sipmsg.FromHeader{
		DisplayName: o.FromDisplay,
		Address:     sipmsg.Uri{Scheme: "sip", User: user, Host: c.cfg.Host},
		Params:      sipmsg.NewParams(),
	}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	to := &sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: ruri.Scheme, User: ruri.User, Host: ruri.Host, Port: ruri.Port}}
	contact := c.contact(user, transport)

	req := sipmsg.NewRequest(sipmsg.INVITE, ruri)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(contact)
	req.AppendHeader(sipmsg.NewHeader("User-Agent", c.cfg.UserAgent))
	req.AppendHeader(sipmsg.NewHeader("Allow", clientAllow))
	if len(sdp) > 0 {
		req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	}
	req.SetBody(sdp)
	req.SetTransport(strings.ToUpper(transport))

	cli := c.udp
	if transport == "tcp" {
		cli = c.tcp
	}
	dua := &sipgo.DialogUA{Client: cli, ContactHDR: *contact}
	sess, err := dua.WriteInvite(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("dial %s: invite: %w", uri, err)
	}
	// WaitAnswer sends CANCEL when ctx is done and then waits for the
	// INVITE's final response (RFC 3261 §9.1).
	err = sess.WaitAnswer(ctx, sipgo.AnswerOptions{})
	var dr *sipgo.ErrDialogResponse
	switch {
	case err == nil:
	case errors.As(err, &dr):
		return nil, &RejectError{Code: dr.Res.StatusCode, Reason: dr.Res.Reason}
	case ctx.Err() != nil:
		cause := context.Cause(ctx)
		res := sess.InviteResponse
		if res != nil && res.StatusCode >= 300 {
			return nil, &RejectError{Code: res.StatusCode, Reason: res.Reason, Err: cause}
		}
		if res != nil && res.IsSuccess() {
			// The answer crossed our CANCEL: confirm and end the dialog.
			c.abandon(sess)
		}
		return nil, fmt.Errorf("dial %s: %w", uri, cause)
	default:
		return nil, fmt.Errorf("dial %s: %w", uri, err)
	}

	call := &Call{client: c, sess: sess, done: make(chan struct{})}
	call.id = req.CallID().Value()
	call.dialogID = sess.ID
	call.remoteSDP = sess.InviteResponse.Body()
	// Register before the ACK: the far end may send BYE right after it.
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.abandon(sess)
		return nil, fmt.Errorf("dial %s: %w", uri, errClosed)
	}
	c.calls[call.dialogID] = call
	c.mu.Unlock()
	if err := sess.Ack(ctx); err != nil {
		c.forget(call)
		return nil, fmt.Errorf("dial %s: ack: %w", uri, err)
	}
	return call, nil
}

// abandon ACKs and BYEs a dialog we no longer want.
func (c *Client) abandon(sess *sipgo.DialogClientSession) {
	ctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
	defer cancel()
	if err := sess.Ack(ctx); err == nil {
		_ = sess.Bye(ctx)
	}
}

func (c *Client) contact(user, transport string) *sipmsg.ContactHeader {
	u := sipmsg.Uri{Scheme: "sip", User: user, Host: c.cfg.Host, Port: c.udpP}
	if transport == "tcp" {
		u.Port = c.tcpP
		u.UriParams = sipmsg.NewParams()
		u.UriParams.Add("transport", "tcp")
	}
	return &sipmsg.ContactHeader{Address: u}
}

func (c *Client) respond(tx sipmsg.ServerTransaction, req *sipmsg.Request, code int, hdrs ...sipmsg.Header) {
	res := sipmsg.NewResponseFromRequest(req, code, statusText(code), nil)
	res.AppendHeader(sipmsg.NewHeader("User-Agent", c.cfg.UserAgent))
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	_ = tx.Respond(res)
}

func (c *Client) match(req *sipmsg.Request) *Call {
	id, err := sipmsg.DialogIDFromRequestUAC(req)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[id]
}

func (c *Client) forget(call *Call) {
	c.mu.Lock()
	delete(c.calls, call.dialogID)
	c.mu.Unlock()
}

func (c *Client) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	call := c.match(req)
	if call == nil {
		c.respond(tx, req, 481)
		return
	}
	// ReadBye answers 200 and ends the sipgo dialog.
	_ = call.sess.ReadBye(req, tx)
	c.forget(call)
	call.end(ErrHangup)
}

func (c *Client) onInfo(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if c.match(req) == nil {
		c.respond(tx, req, 481)
		return
	}
	c.respond(tx, req, 200)
}

// Call is an established outgoing call.
type Call struct {
	client    *Client
	sess      *sipgo.DialogClientSession
	id        string
	dialogID  string
	remoteSDP []byte
	done      chan struct{}

	mu    sync.Mutex
	cause error
}

// ID returns the Call-ID.
func (c *Call) ID() string { return c.id }

// RemoteSDP returns the SDP answer of the 2xx. It must not be modified.
func (c *Call) RemoteSDP() []byte { return c.remoteSDP }

// Done is closed when the call ends: the far end sent BYE, Hangup was
// called, or the Client was closed.
func (c *Call) Done() <-chan struct{} { return c.done }

// Cause returns nil while the call is up; then ErrHangup when the far end
// sent BYE, or another error for a local end.
func (c *Call) Cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
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
	if c.Cause() != nil {
		return nil
	}
	err := c.sess.Bye(ctx)
	c.client.forget(c)
	c.end(errLocalHangup)
	if err != nil {
		return fmt.Errorf("call %s: hangup: %w", c.id, err)
	}
	return nil
}

// SendInfo sends INFO in the dialog with the given body and waits for the
// final response; a non-2xx response returns a *RejectError.
func (c *Call) SendInfo(ctx context.Context, contentType string, body []byte) error {
	if c.Cause() != nil {
		return fmt.Errorf("call %s: info: %w", c.id, c.Cause())
	}
	target := c.sess.InviteRequest.Recipient
	if ct := c.sess.InviteResponse.Contact(); ct != nil {
		target = ct.Address
	}
	req := sipmsg.NewRequest(sipmsg.INFO, *target.Clone())
	req.AppendHeader(sipmsg.NewHeader("User-Agent", c.client.cfg.UserAgent))
	if contentType != "" {
		req.AppendHeader(sipmsg.NewHeader("Content-Type", contentType))
	}
	req.SetBody(body)
	res, err := c.sess.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("call %s: info: %w", c.id, err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("call %s: info: %w", c.id, &RejectError{Code: res.StatusCode, Reason: res.Reason})
	}
	return nil
}
