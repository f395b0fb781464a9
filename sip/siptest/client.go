package siptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/hotline-ivr/hotline/sip"
)

const (
	defaultClientUserAgent = "Hotline-Phone"
	defaultClientHost      = "127.0.0.1"
	defaultFromUser        = "phone"
	clientAllow            = "INVITE, ACK, BYE, CANCEL, INFO, OPTIONS"

	// hangupTimeout bounds the ACK and BYE of a dialog we abandon.
	hangupTimeout = 5 * time.Second
)

var (
	errLocalHangup = errors.New("siptest: local hangup")
	errClosed      = errors.New("siptest: client closed")
)

// ClientConfig configures a Client. The zero value is valid.
type ClientConfig struct {
	UserAgent string // User-Agent header; default "Hotline-Phone"
	Host      string // IP to bind and advertise; default "127.0.0.1"
	// InviteAuth, when its Realm is set, makes the Client challenge new
	// INVITEs as a carrier challenges a trunk's calls. Zero: none.
	InviteAuth InviteAuth
}

// Client is a SIP user agent: the test phone. It places calls (Dial),
// registers with a registrar (Register), and answers calls when OnInvite
// is set. It serves requests on its own ephemeral UDP and TCP ports, which
// its Contact advertises, so the far end can send BYE and INFO in the
// dialog.
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

	regCallID string        // one Call-ID for all REGISTERs (RFC 3261 §10.2)
	regCSeq   atomic.Uint32 // their CSeq

	auth *digestCheck // checks INVITEs' credentials (cfg.InviteAuth); nil: none

	mu       sync.Mutex
	calls    map[string]*Call // by dialog ID as seen in requests we receive
	onInvite func(ctx context.Context, call *Call) ([]byte, int)
	closed   bool
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
		return nil, fmt.Errorf("siptest: new client: host %q is not an IP", cfg.Host)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(cfg.UserAgent), sipgo.WithUserAgentHostname(cfg.Host))
	if err != nil {
		return nil, fmt.Errorf("siptest: new client: %w", err)
	}
	c := &Client{cfg: cfg, ua: ua, calls: make(map[string]*Call), regCallID: sipmsg.GenerateTagN(32)}
	c.regCSeq.Store(1)
	if a := cfg.InviteAuth; a.Realm != "" {
		if c.auth, err = newDigestCheck(a); err != nil {
			_ = ua.Close()
			return nil, fmt.Errorf("siptest: new client: invite auth: %w", err)
		}
	}
	fail := func(err error) (*Client, error) {
		if c.pc != nil {
			_ = c.pc.Close()
		}
		if c.ln != nil {
			_ = c.ln.Close()
		}
		_ = ua.Close()
		return nil, fmt.Errorf("siptest: new client: %w", err)
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

	c.sg.OnInvite(c.onInviteReq)
	c.sg.OnAck(c.onAck)
	c.sg.OnBye(c.onBye)
	c.sg.OnInfo(c.onInfo)
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

// Addr returns the host:port of the Client's UDP listener: where its
// Contact points and where to send it requests.
func (c *Client) Addr() string { return c.pc.LocalAddr().String() }

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
	// A request read just before the sockets closed is still handled on a goroutine of
	// sipgo's, which opens a fresh UDP socket to answer it: close the transports again once
	// such stragglers are done (as sip.Server does).
	tp := c.ua.TransportLayer()
	for _, d := range []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second} {
		time.AfterFunc(d, func() { _ = tp.Close() })
	}
	if err != nil {
		return fmt.Errorf("siptest: close client: %w", err)
	}
	return nil
}

// Dial sends an INVITE with sdp (application/sdp) to uri and waits for the
// final response. On 2xx it sends the ACK and returns the Call. A non-2xx
// final response returns a *sip.RejectError with its code. When ctx is done
// before the answer, Dial sends CANCEL and returns the final response to
// the INVITE (normally 487) as a *sip.RejectError wrapping ctx's cause.
// o.Trunk is not supported (Server.Dial only).
func (c *Client) Dial(ctx context.Context, uri string, sdp []byte, o sip.DialOptions) (*Call, error) {
	var ruri sipmsg.Uri
	if err := sipmsg.ParseUri(uri, &ruri); err != nil {
		return nil, fmt.Errorf("dial %s: %w", uri, err)
	}
	if o.Trunk != "" {
		return nil, fmt.Errorf("dial %s: trunks are a Server.Dial option", uri)
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
	if o.AssertedIdentity != "" {
		req.AppendHeader(sipmsg.NewHeader("P-Asserted-Identity", o.AssertedIdentity))
	}
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
	err = sess.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: progressHook(o.OnProgress)})
	var dr *sipgo.ErrDialogResponse
	switch {
	case err == nil:
	case errors.As(err, &dr):
		return nil, &sip.RejectError{Code: dr.Res.StatusCode, Reason: dr.Res.Reason}
	case ctx.Err() != nil:
		cause := context.Cause(ctx)
		res := sess.InviteResponse
		if res != nil && res.StatusCode >= 300 {
			return nil, &sip.RejectError{Code: res.StatusCode, Reason: res.Reason, Err: cause}
		}
		if res != nil && res.IsSuccess() {
			// The answer crossed our CANCEL: confirm and end the dialog.
			abandon(sess)
		}
		return nil, fmt.Errorf("dial %s: %w", uri, cause)
	default:
		return nil, fmt.Errorf("dial %s: %w", uri, err)
	}

	call := newCall(sess, c.cfg.UserAgent, c.forget)
	call.localSDP = sdp
	call.fill(sess)
	// Register before the ACK: the far end may send BYE right after it.
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		abandon(sess)
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

// progressHook adapts a DialOptions.OnProgress to sipgo's response hook.
func progressHook(f func(sip.Progress)) func(*sipmsg.Response) error {
	if f == nil {
		return nil
	}
	return func(res *sipmsg.Response) error {
		if res.IsProvisional() {
			f(sip.Progress{Code: res.StatusCode, Reason: res.Reason, SDP: res.Body()})
		}
		return nil
	}
}

// abandon ACKs and BYEs a dialog we no longer want (a 2xx that crossed
// our CANCEL).
func abandon(sess *sipgo.DialogClientSession) {
	ctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
	defer cancel()
	res := sess.InviteResponse
	target := sess.InviteRequest.Recipient
	if ct := res.Contact(); ct != nil {
		target = ct.Address
	}
	ack := sipmsg.NewRequest(sipmsg.ACK, *target.Clone())
	bye := sipmsg.NewRequest(sipmsg.BYE, *target.Clone())
	ack.Laddr = sess.InviteRequest.Laddr
	if err := sess.WriteAck(ctx, ack); err == nil {
		_ = sess.WriteBye(ctx, bye)
	}
}

func (c *Client) contact(user, transport string) *sipmsg.ContactHeader {
	u := sipmsg.Uri{Scheme: "sip", User: user, Host: c.cfg.Host, Port: c.udpP}
	if strings.EqualFold(transport, "tcp") {
		u.Port = c.tcpP
		u.UriParams = sipmsg.NewParams()
		u.UriParams.Add("transport", "tcp")
	}
	return &sipmsg.ContactHeader{Address: u}
}

func (c *Client) respond(tx sipmsg.ServerTransaction, req *sipmsg.Request, code int, hdrs ...sipmsg.Header) {
	res := sipmsg.NewResponseFromRequest(req, code, reason(code), nil)
	res.AppendHeader(sipmsg.NewHeader("User-Agent", c.cfg.UserAgent))
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	_ = tx.Respond(res)
}

// match returns the call an in-dialog request belongs to: a call we placed
// (the request's From is the far end) or one we answered (its To is us).
func (c *Client) match(req *sipmsg.Request) *Call {
	uac, err := sipmsg.DialogIDFromRequestUAC(req)
	if err != nil {
		return nil
	}
	uas, _ := sipmsg.DialogIDFromRequestUAS(req)
	c.mu.Lock()
	defer c.mu.Unlock()
	if call := c.calls[uac]; call != nil {
		return call
	}
	return c.calls[uas]
}

func (c *Client) forget(call *Call) {
	c.mu.Lock()
	if c.calls[call.dialogID] == call {
		delete(c.calls, call.dialogID)
	}
	c.mu.Unlock()
}

func (c *Client) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	call := c.match(req)
	if call == nil {
		c.respond(tx, req, 481)
		return
	}
	call.remoteBye(req, tx)
}

func (c *Client) onInfo(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	call := c.match(req)
	if call == nil {
		c.respond(tx, req, 481)
		return
	}
	c.respond(tx, req, call.info(mediaTypeRaw(req), req.Body()))
}

func (c *Client) onAck(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	call := c.match(req)
	if call == nil {
		return
	}
	if ss, ok := call.sess.(*sipgo.DialogServerSession); ok {
		_ = ss.ReadAck(req, tx) // confirms the dialog: RespondSDP returns
	}
}

// OnInvite makes the Client answer calls (the test phone as a queue agent
// or callback target). For each new INVITE the Client sends 180 Ringing,
// then calls f on the goroutine that received the INVITE, with a context
// cancelled when the caller sends CANCEL, and the Call, whose RemoteSDP is
// the offer and whose From is the caller ID. f returns the answer SDP and
// a final status: 2xx answers (the Call is up once the caller's ACK
// arrives; keep it to Hangup or watch Done), 300-699 rejects. Without
// OnInvite, INVITEs get 405. Set it before calls arrive. A re-INVITE is
// answered 200 with the SDP we answered with.
func (c *Client) OnInvite(f func(ctx context.Context, call *Call) (sdp []byte, code int)) {
	c.mu.Lock()
	c.onInvite = f
	c.mu.Unlock()
}

func (c *Client) onInviteReq(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		call := c.match(req)
		if call == nil || !call.inSequence(req) {
			c.respond(tx, req, 481)
			return
		}
		res := sipmsg.NewSDPResponseFromRequest(req, call.localSDP)
		res.AppendHeader(c.contact(req.Recipient.User, req.Transport()))
		_ = tx.Respond(res)
		return
	}
	c.mu.Lock()
	f, closed := c.onInvite, c.closed
	c.mu.Unlock()
	if f == nil || closed {
		c.respond(tx, req, 405, sipmsg.NewHeader("Allow", clientAllow))
		return
	}
	if c.auth != nil && !c.authorizeInvite(req, tx) {
		return
	}
	cli := c.udp
	if sipmsg.IsReliable(req.Transport()) {
		cli = c.tcp
	}
	dua := &sipgo.DialogUA{Client: cli, ContactHDR: *c.contact(req.Recipient.User, req.Transport())}
	sess, err := dua.ReadInvite(req, tx)
	if err != nil {
		c.respond(tx, req, 400)
		return
	}
	inv := sess.InviteRequest
	call := newCall(sess, c.cfg.UserAgent, c.forget)
	call.id = inv.CallID().Value()
	call.dialogID = sess.ID
	call.remoteSDP = inv.Body()
	call.target = *inv.Contact().Address.Clone()
	call.from = partyOf(inv.From().DisplayName, inv.From().Address)
	call.to = partyOf(inv.To().DisplayName, inv.To().Address)
	call.remoteCSeq = inv.CSeq().SeqNo
	call.answering = make(chan struct{})
	defer close(call.answering)
	c.mu.Lock()
	c.calls[call.dialogID] = call
	c.mu.Unlock()

	ua := sipmsg.NewHeader("User-Agent", c.cfg.UserAgent)
	_ = sess.Respond(180, "Ringing", nil, ua)
	sdp, code := f(sess.Context(), call)
	switch {
	case sess.Context().Err() != nil: // canceled: sipgo sent 487
		c.forget(call)
		call.end(sip.ErrCanceled)
	case code >= 200 && code < 300 && len(sdp) > 0:
		call.localSDP = sdp
		res := sipmsg.NewSDPResponseFromRequest(inv, sdp)
		res.AppendHeader(ua)
		if err := sess.WriteResponse(res); err != nil { // returns once ACKed
			c.forget(call)
			call.end(fmt.Errorf("answer: %w", err))
		}
	default:
		if code < 300 || code > 699 {
			code = 500
		}
		_ = sess.Respond(code, reason(code), nil, ua)
		c.forget(call)
		call.end(&sip.RejectError{Code: code})
	}
}

// authorizeInvite checks a new INVITE's Proxy-Authorization against
// cfg.InviteAuth and, unless it authenticates, sends the 407, 403 or 400.
func (c *Client) authorizeInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	code, stale, username := c.auth.check(req)
	check := AuthCheck{User: req.Recipient.User, Username: username, Code: code}
	var hdrs []sipmsg.Header
	if code == 407 {
		hdrs = append(hdrs, sipmsg.NewHeader("Proxy-Authenticate", c.auth.challenge(stale)))
	}
	if f := c.cfg.InviteAuth.OnCheck; f != nil {
		f(check)
	}
	if code == 0 {
		return true
	}
	c.respond(tx, req, code, hdrs...)
	return false
}

// RegisterOptions are the settings of Client.Register and Unregister.
type RegisterOptions struct {
	User      string        // address-of-record user and digest username
	Password  string        // digest password; empty: no authentication
	Expires   time.Duration // requested lifetime; 0: the registrar's default
	Transport string        // "udp" (default) or "tcp"
}

// Register binds the Client's Contact (sip:User@host:port) to User at the
// registrar (a URI such as "sip:127.0.0.1:5060") and returns the lifetime
// the registrar granted. It answers one 401/407 challenge with o.Password
// (RFC 3261 §22.2). A final non-2xx response returns a *sip.RejectError.
func (c *Client) Register(ctx context.Context, registrar string, o RegisterOptions) (time.Duration, error) {
	exp := -1
	if o.Expires > 0 {
		exp = int(o.Expires / time.Second)
	}
	res, err := c.register(ctx, registrar, o, exp)
	if err != nil {
		return 0, fmt.Errorf("register %s at %s: %w", o.User, registrar, err)
	}
	return grantedExpires(res, c.contact(o.User, c.transportOf(registrar, o))), nil
}

// Unregister removes the Client's binding for o.User (Expires 0, RFC 3261
// §10.2.2).
func (c *Client) Unregister(ctx context.Context, registrar string, o RegisterOptions) error {
	if _, err := c.register(ctx, registrar, o, 0); err != nil {
		return fmt.Errorf("unregister %s at %s: %w", o.User, registrar, err)
	}
	return nil
}

func (c *Client) transportOf(registrar string, o RegisterOptions) string {
	if o.Transport != "" {
		return strings.ToLower(o.Transport)
	}
	var u sipmsg.Uri
	if err := sipmsg.ParseUri(registrar, &u); err == nil {
		return strings.ToLower(u.UriParams.GetOr("transport", "udp"))
	}
	return "udp"
}

// register sends REGISTER with Expires exp (-1: no Expires header).
func (c *Client) register(ctx context.Context, registrar string, o RegisterOptions, exp int) (*sipmsg.Response, error) {
	var ruri sipmsg.Uri
	if err := sipmsg.ParseUri(registrar, &ruri); err != nil {
		return nil, err
	}
	transport := c.transportOf(registrar, o)
	if transport != "udp" && transport != "tcp" {
		return nil, fmt.Errorf("unsupported transport %q", transport)
	}
	ruri.User = "" // RFC 3261 §10.2: no userinfo in a REGISTER's Request-URI
	aor := sipmsg.Uri{Scheme: "sip", User: o.User, Host: ruri.Host}
	from := &sipmsg.FromHeader{Address: aor, Params: sipmsg.NewParams()}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	to := &sipmsg.ToHeader{Address: aor}
	callID := sipmsg.CallIDHeader(c.regCallID)
	// Two CSeq numbers: one for the challenged request, one for its retry.
	n := c.regCSeq.Add(2) - 1

	req := sipmsg.NewRequest(sipmsg.REGISTER, ruri)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sipmsg.CSeqHeader{SeqNo: n, MethodName: sipmsg.REGISTER})
	req.AppendHeader(c.contact(o.User, transport))
	if exp >= 0 {
		e := sipmsg.ExpiresHeader(exp)
		req.AppendHeader(&e)
	}
	req.AppendHeader(sipmsg.NewHeader("User-Agent", c.cfg.UserAgent))
	req.SetTransport(strings.ToUpper(transport))
	cli := c.udp
	if transport == "tcp" {
		cli = c.tcp
	}
	res, err := cli.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if (res.StatusCode == 401 || res.StatusCode == 407) && o.Password != "" {
		res, err = cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: o.User, Password: o.Password})
		if err != nil {
			return nil, err
		}
	}
	if !res.IsSuccess() {
		return res, &sip.RejectError{Code: res.StatusCode, Reason: res.Reason}
	}
	return res, nil
}

// grantedExpires reads our binding's lifetime from a REGISTER's 2xx
// (RFC 3261 §10.2.4): the expires parameter of our Contact, else Expires.
func grantedExpires(res *sipmsg.Response, ours *sipmsg.ContactHeader) time.Duration {
	for _, h := range res.GetHeaders("Contact") {
		ct, ok := h.(*sipmsg.ContactHeader)
		if !ok || !sameURI(ct.Address, ours.Address) {
			continue
		}
		if v, ok := ct.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return time.Duration(n) * time.Second
			}
		}
	}
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil {
			return time.Duration(n) * time.Second
		}
	}
	return 0
}

// sameURI compares the parts of two URIs a registrar keeps (RFC 3261
// §19.1.4, simplified): scheme, user, host (case-insensitive), port and
// transport.
func sameURI(a, b sipmsg.Uri) bool {
	key := func(u sipmsg.Uri) string {
		scheme := strings.ToLower(u.Scheme)
		if scheme == "" {
			scheme = "sip"
		}
		transport := "udp"
		if u.UriParams != nil {
			transport = strings.ToLower(u.UriParams.GetOr("transport", "udp"))
		}
		return scheme + ":" + u.User + "@" + strings.ToLower(u.Host) + ":" + strconv.Itoa(u.Port) + ";" + transport
	}
	return key(a) == key(b)
}

// reason returns the RFC 3261 §21 reason phrase of the codes the Client
// sends.
func reason(code int) string {
	switch code {
	case 180:
		return "Ringing"
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 405:
		return "Method Not Allowed"
	case 407:
		return "Proxy Authentication Required"
	case 480:
		return "Temporarily Unavailable"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	case 603:
		return "Decline"
	}
	switch {
	case code < 300:
		return "OK"
	case code < 400:
		return "Redirection"
	case code < 500:
		return "Request Failure"
	case code < 600:
		return "Server Error"
	default:
		return "Global Failure"
	}
}
