package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
)

const defaultServerFromUser = "hotline"

// DialOptions are per-call settings of Server.Dial (and of the test user
// agent's Dial, siptest.Client.Dial).
type DialOptions struct {
	// FromUser is the user part of From and Contact (the caller ID).
	// Default: the trunk's from_user, else "hotline" ("phone" for
	// siptest.Client.Dial).
	FromUser string
	// FromDisplay is the display name in From; may be empty.
	FromDisplay string
	// Transport is "udp", "tcp" or "tls" (Server.Dial with sip.tls only).
	// Default: the target URI's transport parameter ("tls" for a sips: URI;
	// the trunk URI's for a trunk, the registration's for a registered
	// user), else "udp".
	Transport string
	// Trunk names a Config.Trunks entry to call through (Server.Dial
	// only): the INVITE goes to the trunk and answers its 401/407
	// challenge with the trunk's credentials.
	Trunk string
	// OnProgress, if set, is called with each provisional response
	// (100-199) on the goroutine running Dial; it must return quickly.
	OnProgress func(Progress)
	// AssertedIdentity, when set, is sent as P-Asserted-Identity (RFC 3325), as a
	// carrier's gateway does. Only siptest.Client.Dial sends it (for tests and the test
	// phone); Server.Dial ignores it.
	AssertedIdentity string
}

// Progress is a provisional response to an INVITE (RFC 3261 §21.1).
type Progress struct {
	Code   int    // 100-199, e.g. 180 Ringing, 183 Session Progress
	Reason string // reason phrase
	SDP    []byte // early-media answer (183 with SDP); usually empty
}

// Trunk is a SIP trunk: a carrier (or a local SIP endpoint) that Dial
// sends calls through, answering its digest challenge (401 or 407) with
// Username and Password.
type Trunk struct {
	// Name is what DialOptions.Trunk refers to.
	Name string `mapstructure:"name"`
	// URI is where calls go, e.g. "sip:carrier.example:5060" or
	// "sip:10.0.0.9;transport=tcp". Dial puts the number in its user part.
	URI string `mapstructure:"uri"`
	// Username and Password answer the trunk's challenge; empty: none.
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
	// FromUser is the default caller ID (From user) of calls through the
	// trunk; DialOptions.FromUser overrides it.
	FromUser string `mapstructure:"from_user"`
	// FromHost is the host part of From; default: the trunk's host.
	FromHost string `mapstructure:"from_host"`
	// Source lists the IPs or CIDRs the trunk sends calls from; its INVITEs are accepted
	// from there. Default: the URI's host when it is an IP literal.
	Source []string `mapstructure:"source"`
	// Trusted puts the trunk inside the RFC 3325 trust domain: its P-Asserted-Identity is
	// believed as the caller's identity. Off: the caller is who From claims (unverified).
	Trusted bool `mapstructure:"trusted"`
	// TLSCA is a PEM file of CA certificates (a carrier's private CA, or its self-signed
	// certificate) that may vouch for the trunk's certificate when calls go over TLS (URI
	// sips: or ;transport=tls), besides the system roots; trusted for the trunk's host only.
	TLSCA string `mapstructure:"tls_ca"`
	// Register registers with the trunk (RFC 3261 §10) while the server serves: address of
	// record sip:Username@host (FromUser when no Username), our Contact, the challenge
	// answered with Username and Password; refreshed at half the granted lifetime, retried
	// after a failure 5 s later doubling up to 5 min, removed (Expires: 0) at stop.
	Register bool `mapstructure:"register"`
	// RegisterExpires is the lifetime asked for (Expires); default 1h, at least 1m. The
	// carrier's grant wins.
	RegisterExpires time.Duration `mapstructure:"register_expires"`
	// Qualify, when set (at least 1s), sends the trunk an OPTIONS every Qualify; two in a
	// row unanswered within min(Qualify, 5s), or answered 408 or 5xx, mark it down, one
	// answer marks it up again. Zero: off (the trunk is always up).
	Qualify time.Duration `mapstructure:"qualify"`
	// Failover names the trunks Dial tries, in order, when this one is down or answers a
	// call with 408, 5xx or nothing (never after another 4xx or a 6xx: the callee refused).
	Failover []string `mapstructure:"failover"`
}

func (t Trunk) parse() (sipmsg.Uri, error) {
	var u sipmsg.Uri
	if err := sipmsg.ParseUri(t.URI, &u); err != nil {
		return u, err
	}
	if u.Host == "" || (u.Scheme != "" && !strings.EqualFold(u.Scheme, "sip") && !strings.EqualFold(u.Scheme, "sips")) {
		return u, fmt.Errorf("want sip:host[:port][;transport=udp|tcp|tls] or sips:host[:port]")
	}
	tr := strings.ToLower(u.UriParams.GetOr("transport", "udp"))
	if tr != "udp" && tr != "tcp" && tr != "tls" {
		return u, fmt.Errorf("unsupported transport %q", tr)
	}
	if strings.EqualFold(u.Scheme, "sips") && u.UriParams.Has("transport") && tr != "tcp" && tr != "tls" {
		return u, fmt.Errorf("sips: goes over TLS, not %s", tr)
	}
	return u, nil
}

func validateTrunks(ts []Trunk) error {
	var errs []error
	seen := make(map[string]bool, len(ts))
	for i, t := range ts {
		switch {
		case t.Name == "":
			errs = append(errs, fmt.Errorf("trunks[%d]: empty name", i))
		case seen[t.Name]:
			errs = append(errs, fmt.Errorf("trunks[%d]: name %q listed twice", i, t.Name))
		}
		seen[t.Name] = true
		if _, err := t.parse(); err != nil {
			errs = append(errs, fmt.Errorf("trunks[%d] (%s): uri %q: %w", i, t.Name, t.URI, err))
		}
		if t.Password != "" && t.Username == "" {
			errs = append(errs, fmt.Errorf("trunks[%d] (%s): password without username", i, t.Name))
		}
		if strings.ContainsAny(t.FromUser+t.FromHost, " \t\r\n\"<>@;,") {
			errs = append(errs, fmt.Errorf("trunks[%d] (%s): from_user/from_host: not plain", i, t.Name))
		}
		errs = append(errs, validateTrunkUse(i, t, ts)...)
	}
	return errors.Join(errs...)
}

// validateTrunkUse checks the registration, qualify and failover keys of ts[i].
func validateTrunkUse(i int, t Trunk, ts []Trunk) []error {
	var errs []error
	if t.RegisterExpires != 0 && t.RegisterExpires < minRegisterExpires {
		errs = append(errs, fmt.Errorf("trunks[%d] (%s): register_expires %v: at least %v", i, t.Name, t.RegisterExpires, minRegisterExpires))
	}
	if t.Qualify != 0 && t.Qualify < minQualify {
		errs = append(errs, fmt.Errorf("trunks[%d] (%s): qualify %v: 0 (off) or at least %v", i, t.Name, t.Qualify, minQualify))
	}
	seen := map[string]bool{t.Name: true}
	for _, f := range t.Failover {
		switch {
		case seen[f]:
			errs = append(errs, fmt.Errorf("trunks[%d] (%s): failover %q: listed twice (or the trunk itself)", i, t.Name, f))
		case !slices.ContainsFunc(ts, func(o Trunk) bool { return o.Name == f }):
			errs = append(errs, fmt.Errorf("trunks[%d] (%s): failover %q: no such trunk", i, t.Name, f))
		}
		seen[f] = true
	}
	return errs
}

// dialPlan is where and how Dial sends an INVITE.
type dialPlan struct {
	ruri      sipmsg.Uri
	route     *sipmsg.Uri // outbound proxy (a trunk, for a full target URI)
	transport string      // "udp" or "tcp"
	dest      string      // host:port to send to; "" follows ruri/route
	pinDest   bool        // keep dest for in-dialog requests (a registered phone)
	serveKey  string      // preferred served socket
	trunk     *Trunk
	fromUser  string
	fromHost  string // "" = our advertised host
}

// isSIPURI reports whether target is a URI rather than a bare user or number.
func isSIPURI(target string) bool {
	t := strings.ToLower(target)
	return strings.HasPrefix(t, "sip:") || strings.HasPrefix(t, "sips:")
}

func (s *Server) plan(target string, o DialOptions) (dialPlan, error) {
	var p dialPlan
	p.fromUser = o.FromUser
	transport := strings.ToLower(o.Transport)
	switch {
	case o.Trunk != "":
		t, ok := s.trunks[o.Trunk]
		if !ok {
			return p, fmt.Errorf("unknown trunk %q", o.Trunk)
		}
		tu, _ := t.parse() // validated by NewServer
		p.trunk = &t
		p.fromUser = firstNonEmpty(p.fromUser, t.FromUser)
		p.fromHost = firstNonEmpty(t.FromHost, tu.Host)
		if transport == "" {
			transport = t.transport(tu)
		}
		if isSIPURI(target) {
			if err := sipmsg.ParseUri(target, &p.ruri); err != nil {
				return p, err
			}
			route := sipmsg.Uri{Scheme: firstNonEmpty(tu.Scheme, "sip"), Host: tu.Host, Port: tu.Port, UriParams: sipmsg.NewParams()}
			route.UriParams.Add("lr", "")
			if transport != "udp" && !strings.EqualFold(route.Scheme, "sips") {
				route.UriParams.Add("transport", transport)
			}
			p.route = &route
		} else {
			if target == "" || strings.ContainsAny(target, " \t\r\n<>@;:") {
				return p, fmt.Errorf("bad number %q", target)
			}
			p.ruri = *tu.Clone()
			p.ruri.User = target
		}
	case !isSIPURI(target):
		b, ok := s.reg.newest(target)
		if !ok {
			return p, ErrNotRegistered
		}
		s.planBinding(&p, b, transport)
		return p, nil
	default:
		if err := sipmsg.ParseUri(target, &p.ruri); err != nil {
			return p, err
		}
		if p.ruri.Host == "" {
			return p, fmt.Errorf("no host in %q", target)
		}
		if b, ok := s.reg.lookup(p.ruri); ok {
			s.planBinding(&p, b, transport)
			return p, nil
		}
		if transport == "" && p.ruri.UriParams != nil {
			transport = strings.ToLower(p.ruri.UriParams.GetOr("transport", ""))
		}
		if transport == "" && strings.EqualFold(p.ruri.Scheme, "sips") {
			transport = "tls"
		}
	}
	p.transport = firstNonEmpty(transport, "udp")
	p.fromUser = firstNonEmpty(p.fromUser, defaultServerFromUser)
	switch {
	case p.transport == "tls" && s.tls == nil:
		return p, errors.New("tls: sip.tls is not configured")
	case p.transport != "udp" && p.transport != "tcp" && p.transport != "tls":
		return p, fmt.Errorf("unsupported transport %q", p.transport)
	}
	return p, nil
}

// planBinding aims at a registered phone: its Contact as Request-URI, sent
// where the REGISTER came from (its NAT mapping, or its open TCP
// connection) from the socket that REGISTER reached.
func (s *Server) planBinding(p *dialPlan, b binding, transport string) {
	p.ruri = *b.uri.Clone()
	p.transport = firstNonEmpty(transport, b.Transport)
	p.fromUser = firstNonEmpty(p.fromUser, defaultServerFromUser)
	if p.transport != b.Transport {
		return // the caller chose another transport: plain Contact routing
	}
	p.serveKey = b.serveKey
	switch p.transport {
	case "udp":
		p.dest, p.pinDest = b.Source, true
	default:
		// Reuse the phone's connection while it is open; phones behind
		// NAT accept no new ones (TELEPHONY.md).
		if c, err := s.ua.TransportLayer().GetConnection(p.transport, b.Source); err == nil {
			_, _ = c.TryClose() // GetConnection took a reference
			p.dest, p.pinDest = b.Source, true
		}
	}
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// acquireOut picks the served socket a call leaves from (preferably
// key) and counts the Dial on it. Before any socket of the transport is
// served it waits, until ctx is done; it returns ErrServerClosed once the
// server has stopped.
func (s *Server) acquireOut(ctx context.Context, transport, key string) (*serveState, error) {
	for {
		s.mu.Lock()
		st := s.serves[key]
		if st == nil || st.closing || !strings.HasPrefix(st.key, transport+":") {
			st = nil
			for _, o := range s.serves {
				if strings.HasPrefix(o.key, transport+":") && !o.closing && (st == nil || o.key < st.key) {
					st = o
				}
			}
		}
		if st != nil {
			st.calls.Add(1)
			s.mu.Unlock()
			return st, nil
		}
		closed, served := s.closed, s.served
		s.mu.Unlock()
		if closed {
			return nil, ErrServerClosed
		}
		select {
		case <-served:
		case <-ctx.Done():
			return nil, fmt.Errorf("no %s socket served: %w", transport, context.Cause(ctx))
		}
	}
}

// advertise returns the host and port for our Contact and Via on a call
// leaving from st toward dest: sip.external_address when set (its port, if any,
// for UDP and TCP), else sip.host, else the socket's own address.
func (s *Server) advertise(st *serveState, dest string) (string, int, error) {
	host, port, err := sipmsg.ParseAddr(st.addr.String())
	if err != nil {
		return "", 0, err
	}
	transport, _, _ := strings.Cut(st.key, ":")
	if eh, ep := externalFor(s.cfg.ExternalAddress, transport, port); eh != "" {
		return eh, ep, nil
	}
	if s.cfg.Host != "" {
		return s.cfg.Host, port, nil
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		return host, port, nil
	}
	// Unspecified listen address: the local IP routed toward the far end
	// (a UDP "connect" sends nothing).
	c, err := net.Dial("udp", dest)
	if err != nil {
		return "", 0, fmt.Errorf("local address toward %s: %w (set sip.host)", dest, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String(), port, nil
}

// parseExternal splits sip.external_address ("host", "host:port", "[v6]:port") into its
// host (no brackets) and port (0: none given).
func parseExternal(a string) (string, int, error) {
	if a == "" {
		return "", 0, nil
	}
	if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(a, "["), "]")); ip != nil {
		if ip.IsUnspecified() || ip.IsMulticast() {
			return "", 0, errors.New("not a unicast address")
		}
		return ip.String(), 0, nil
	}
	host, port := a, 0
	if h, p, err := net.SplitHostPort(a); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", 0, fmt.Errorf("bad port %q", p)
		}
		host, port = h, n
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip.IsUnspecified() || ip.IsMulticast() {
			return "", 0, errors.New("not a unicast address")
		}
		return ip.String(), port, nil
	}
	if host == "" || strings.ContainsAny(host, " \t\r\n<>;:@[]/?,\"") {
		return "", 0, errors.New("not an IP or host name")
	}
	return host, port, nil
}

// externalFor returns the host and port to advertise for a socket of transport bound on
// port when sip.external_address ext is set: its host, and its port for UDP and TCP (the
// sip.listen socket's; TLS keeps its own). "" when ext is empty.
func externalFor(ext, transport string, port int) (string, int) {
	host, ep, err := parseExternal(ext)
	if err != nil || host == "" {
		return "", 0
	}
	if ep != 0 && !strings.EqualFold(transport, "tls") {
		port = ep
	}
	return host, port
}

// viaOptions are the client options for the Via of requests we send with sent-by
// host:port: always rport (RFC 3581 §3: the far end answers to the port the request came
// from, through a NAT); host:port only when set (port only with sip.external_address, else
// the transport fills in the socket's own).
func viaOptions(ext, host string, port int) []sipgo.ClientOption {
	opts := []sipgo.ClientOption{sipgo.WithClientNAT()}
	if host != "" {
		opts = append(opts, sipgo.WithClientHostname(host))
	}
	if ext != "" && port != 0 {
		opts = append(opts, sipgo.WithClientPort(port))
	}
	return opts
}

// Dial places a call from the server's own user agent and waits for the
// answer: to a registered user (target "1001": the user's most recently
// refreshed binding), to a SIP URI (which may be a registered Contact),
// or, with o.Trunk, to a number (or SIP URI) through that trunk, answering
// its 401/407 digest challenge. The INVITE carries sdp and leaves from a
// served socket (UDP: the listening socket itself), so the far end's BYE
// and INFO reach the returned Call. Provisional responses go to
// o.OnProgress.
//
// A final non-2xx response returns a *RejectError with its code (408 when
// nothing answered at all). When ctx is done first, Dial sends CANCEL
// (RFC 3261 §9.1) and returns the final response (normally 487) as a
// *RejectError wrapping ctx's cause; if no provisional response has come
// yet, no CANCEL may be sent: Dial gives up the INVITE and returns ctx's
// cause at once. When the socket's Serve stops, the Dial is canceled with
// ErrServerClosed and established calls on it are hung up. A target that
// is neither a URI nor a registered user returns ErrNotRegistered.
//
// Through a trunk with a failover list (Trunk.Failover), Dial skips the trunks that are
// down (TrunkUp; all are tried when none is up) and tries the next one when a trunk answers
// 408 or 5xx, before any ringing, or cannot be reached; another 4xx or a 6xx (the callee
// refused), a callee already rung (180, 183) and ctx's end stop it. The last trunk's error
// is returned.
func (s *Server) Dial(ctx context.Context, target string, sdp []byte, o DialOptions) (*Call, error) {
	chain := s.trunkChain(o.Trunk)
	for i, name := range chain {
		// A callee who was rung (180, 183) is not rung again through the next trunk: a
		// 408 or 5xx after that is the call's end, not the trunk's failure.
		rang := false
		oo := o
		oo.Trunk = name
		oo.OnProgress = func(p Progress) {
			rang = rang || p.Code > 100
			if o.OnProgress != nil {
				o.OnProgress(p)
			}
		}
		c, err := s.dialOnce(ctx, target, sdp, oo)
		if err == nil || i == len(chain)-1 || rang || !failoverOn(ctx, err) {
			return c, err
		}
		s.log.Info("dial through trunk failed, trying the next", "trunk", name, "next", chain[i+1], "error", err)
	}
	return nil, fmt.Errorf("dial %s: no trunk", target) // unreachable: chain is never empty
}

// trunkChain lists the trunks a Dial through trunk name tries: name and its failover list,
// those up first ([name] for no trunk or an unknown one, which dialOnce reports).
func (s *Server) trunkChain(name string) []string {
	t, ok := s.trunks[name]
	if !ok || len(t.Failover) == 0 {
		return []string{name}
	}
	all := append([]string{name}, t.Failover...)
	up := slices.DeleteFunc(slices.Clone(all), func(n string) bool { return !s.TrunkUp(n) })
	if len(up) == 0 {
		return all // every trunk judged down: the verdicts may be stale, try them all
	}
	return up
}

// failoverOn reports whether a failed Dial through a trunk may go on to the next one: the
// trunk answered 408 or 5xx or not at all, and nobody gave up the call.
func failoverOn(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, ErrServerClosed) {
		return false
	}
	var re *RejectError
	if errors.As(err, &re) {
		return re.Code == 408 || (re.Code >= 500 && re.Code < 600)
	}
	return true // the trunk could not be reached (connection refused, no route)
}

func (s *Server) dialOnce(ctx context.Context, target string, sdp []byte, o DialOptions) (*Call, error) {
	p, err := s.plan(target, o)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	st, err := s.acquireOut(ctx, p.transport, p.serveKey)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	defer st.calls.Done()

	dest := p.dest
	switch {
	case dest != "":
	case p.route != nil:
		dest = hostPort(*p.route, p.transport)
	default:
		dest = hostPort(p.ruri, p.transport)
	}
	host, port, err := s.advertise(st, dest)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	var laddr sipmsg.Addr
	if p.transport == "udp" {
		if h, pt, err := sipmsg.ParseAddr(st.addr.String()); err == nil {
			laddr = sipmsg.Addr{IP: net.ParseIP(h), Port: pt, Hostname: h}
		}
	}

	from := &sipmsg.FromHeader{
		DisplayName: o.FromDisplay,
		Address:     sipmsg.Uri{Scheme: "sip", User: p.fromUser, Host: firstNonEmpty(p.fromHost, host)},
		Params:      sipmsg.NewParams(),
	}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	to := &sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: p.ruri.Scheme, User: p.ruri.User, Host: p.ruri.Host, Port: p.ruri.Port}}
	contact := &sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", User: p.fromUser, Host: host, Port: port}}
	if strings.EqualFold(p.ruri.Scheme, "sips") {
		contact.Address.Scheme = "sips" // RFC 3261 §8.1.1.8; implies TLS (RFC 5630)
	} else if p.transport != "udp" {
		contact.Address.UriParams = sipmsg.NewParams()
		contact.Address.UriParams.Add("transport", p.transport)
	}

	req := sipmsg.NewRequest(sipmsg.INVITE, *p.ruri.Clone())
	req.AppendHeader(from)
	req.AppendHeader(to)
	if p.route != nil {
		req.AppendHeader(&sipmsg.RouteHeader{Address: *p.route})
	}
	req.AppendHeader(contact)
	req.AppendHeader(sipmsg.NewHeader("User-Agent", s.cfg.UserAgent))
	req.AppendHeader(sipmsg.NewHeader("Allow", allowHeader))
	if len(sdp) > 0 {
		req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	}
	req.SetBody(sdp)
	req.SetTransport(strings.ToUpper(p.transport))
	if p.dest != "" {
		req.SetDestination(p.dest)
	}
	laddr.Copy(&req.Laddr)

	// A sipgo client per call: it carries the Via host and, over UDP, the socket every
	// request of the call leaves from; the CANCEL sipgo builds itself would otherwise go
	// out on a fresh socket of its own.
	opts := viaOptions(s.cfg.ExternalAddress, host, port)
	if laddr.IP != nil {
		opts = append(opts, sipgo.WithClientConnectionAddr(laddr.String()))
	}
	cli, err := sipgo.NewClient(s.ua, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	// Over TLS, requests in the dialog go on the INVITE's connection unless the far end
	// Record-Routes: carriers refuse, or cannot verify, a connection to their Contact.
	dua := &sipgo.DialogUA{Client: cli, ContactHDR: *contact, RewriteContact: p.transport == "tls"}
	sess, err := dua.WriteInvite(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("dial %s: invite: %w", target, err)
	}

	call := uacCallShell(sess, s, p, laddr, st.key, contact, sdp)
	err, why := s.waitAnswer(ctx, st.ctx, sess, p, o)
	var dr *sipgo.ErrDialogResponse
	switch {
	case err == nil && why == nil:
	case err == nil || (why != nil && sess.InviteResponse != nil && sess.InviteResponse.IsSuccess()):
		// The answer crossed our giving up: confirm and end the dialog.
		abandon(sess, call.pin)
		return nil, fmt.Errorf("dial %s: %w", target, why)
	case errors.As(err, &dr):
		return nil, &RejectError{Code: dr.Res.StatusCode, Reason: dr.Res.Reason, Err: why}
	case why != nil:
		if res := sess.InviteResponse; res != nil && res.StatusCode >= 300 {
			return nil, &RejectError{Code: res.StatusCode, Reason: res.Reason, Err: why}
		}
		return nil, fmt.Errorf("dial %s: %w", target, why)
	case errors.Is(err, sipmsg.ErrTransactionTimeout):
		return nil, &RejectError{Code: 408, Err: err}
	default:
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}

	call.fill(sess)
	call.startMaxDuration() // sip.max_call_duration holds for the calls we place too
	// Register before the ACK: the far end may send BYE right after it.
	s.mu.Lock()
	s.calls[call.dialogID] = call
	s.mu.Unlock()
	ack := sipmsg.NewRequest(sipmsg.ACK, *call.target.Clone())
	call.pin(ack)
	if err := sess.WriteAck(ctx, ack); err != nil {
		s.forgetCall(call)
		call.end(err)
		return nil, fmt.Errorf("dial %s: ack: %w", target, err)
	}
	return call, nil
}

// waitAnswer waits for the INVITE's final response. why is the reason we
// gave up (ctx's cause, or ErrServerClosed), nil if we did not.
func (s *Server) waitAnswer(ctx, serveCtx context.Context, sess *sipgo.DialogClientSession, p dialPlan, o DialOptions) (err, why error) {
	waitCtx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	var (
		provisional atomic.Bool
		mu          sync.Mutex
	)
	giveUp := func(cause error) {
		mu.Lock()
		if why == nil {
			why = cause
		}
		mu.Unlock()
		if provisional.Load() {
			stop(cause) // WaitAnswer sends CANCEL, then waits for the 487
		} else {
			// RFC 3261 §9.1: no CANCEL before a provisional response.
			stop(sipgo.WaitAnswerForceCancelErr)
		}
	}
	unwatch := context.AfterFunc(ctx, func() { giveUp(context.Cause(ctx)) })
	unwatchServe := context.AfterFunc(serveCtx, func() { giveUp(ErrServerClosed) })

	progress := progressHook(o.OnProgress)
	opts := sipgo.AnswerOptions{OnResponse: func(res *sipmsg.Response) error {
		if res.IsProvisional() {
			provisional.Store(true)
			if progress != nil {
				return progress(res)
			}
		}
		return nil
	}}
	if p.trunk != nil {
		opts.Username, opts.Password = p.trunk.Username, p.trunk.Password
	}
	err = sess.WaitAnswer(waitCtx, opts)
	unwatch()
	unwatchServe()
	mu.Lock()
	defer mu.Unlock()
	return err, why
}

// uacCallShell prepares the Call of an INVITE we are sending; fill
// completes it once answered.
func uacCallShell(sess *sipgo.DialogClientSession, s *Server, p dialPlan, laddr sipmsg.Addr, serveKey string,
	contact *sipmsg.ContactHeader, offer []byte) *Call {
	c := &Call{sess: sess, laddr: laddr, served: serveKey}
	c.setUp(s, c, 0)
	c.contact = contact
	c.localSDP = offer
	if p.pinDest {
		c.dest = p.dest
	}
	return c
}

// progressHook adapts a DialOptions.OnProgress to sipgo's response hook.
func progressHook(f func(Progress)) func(*sipmsg.Response) error {
	if f == nil {
		return nil
	}
	return func(res *sipmsg.Response) error {
		if res.IsProvisional() {
			f(Progress{Code: res.StatusCode, Reason: res.Reason, SDP: res.Body()})
		}
		return nil
	}
}

// abandon ACKs and BYEs a dialog we no longer want (a 2xx that crossed
// our CANCEL). pin fixes where the requests go.
func abandon(sess *sipgo.DialogClientSession, pin func(*sipmsg.Request)) {
	ctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
	defer cancel()
	res := sess.InviteResponse
	target := sess.InviteRequest.Recipient
	if ct := res.Contact(); ct != nil {
		target = ct.Address
	}
	ack := sipmsg.NewRequest(sipmsg.ACK, *target.Clone())
	bye := sipmsg.NewRequest(sipmsg.BYE, *target.Clone())
	pin(ack)
	pin(bye)
	ack.Laddr = sess.InviteRequest.Laddr
	if err := sess.WriteAck(ctx, ack); err == nil {
		_ = sess.WriteBye(ctx, bye)
	}
}

// hostPort is where a URI's requests go: host:port, the default port for
// the transport when it has none.
func hostPort(u sipmsg.Uri, transport string) string {
	port := u.Port
	if port == 0 {
		port = sipmsg.DefaultPort(transport)
	}
	return net.JoinHostPort(u.Host, strconv.Itoa(port))
}

// matchCall returns the outbound call an in-dialog request belongs to.
func (s *Server) matchCall(req *sipmsg.Request) *Call {
	id, err := sipmsg.DialogIDFromRequestUAC(req)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

func (s *Server) forgetCall(c *Call) {
	s.mu.Lock()
	if s.calls[c.dialogID] == c {
		delete(s.calls, c.dialogID)
	}
	s.mu.Unlock()
}

// hangupCalls ends, with ErrServerClosed, the outbound calls riding on the
// served socket key, in parallel, each bounded by hangupTimeout.
func (s *Server) hangupCalls(key string) {
	s.mu.Lock()
	var calls []*Call
	for _, c := range s.calls {
		if c.served == key {
			calls = append(calls, c)
		}
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
			defer cancel()
			if err := c.hangupWith(ctx, ErrServerClosed); err != nil {
				s.log.Debug("hangup at shutdown failed", "call_id", c.id, "error", err)
			}
		})
	}
	wg.Wait()
}
