package sip

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

const (
	defaultRealm          = "hotline"
	defaultNonceTTL       = 5 * time.Minute
	defaultMinExpires     = 60 * time.Second
	defaultRegExpires     = time.Hour
	defaultMaxExpires     = 2 * time.Hour
	maxRegisteredContacts = 10 // per user
)

// Account is a registrar user: an agent softphone's digest credentials.
type Account struct {
	User     string `mapstructure:"user"`     // user part of the address of record, e.g. "1001"
	Password string `mapstructure:"password"` // digest password (RFC 7616, MD5)
}

// RegistrarConfig configures REGISTER handling (RFC 3261 §10.3) with
// digest authentication (RFC 3261 §22, RFC 7616 MD5, qop=auth). The zero
// value takes the defaults; with no accounts the registrar is off.
type RegistrarConfig struct {
	// Realm is the digest realm. Default "hotline".
	Realm string `mapstructure:"realm"`
	// Accounts are the users allowed to register. Server.SetAccounts
	// replaces them at run time (hot reload).
	Accounts []Account `mapstructure:"accounts"`
	// NonceTTL is how long a nonce is accepted; an older one gets 401 with
	// stale=true. Default 5m.
	NonceTTL time.Duration `mapstructure:"nonce_ttl"`
	// MinExpires is the shortest binding accepted; shorter gets 423 with
	// Min-Expires. Default 60s.
	MinExpires time.Duration `mapstructure:"min_expires"`
	// DefaultExpires is the binding lifetime when the REGISTER asks for
	// none. Default 1h.
	DefaultExpires time.Duration `mapstructure:"default_expires"`
	// MaxExpires caps the lifetime a REGISTER asks for. Default 2h.
	MaxExpires time.Duration `mapstructure:"max_expires"`
	// Lockout limits password guessing: failed digest checks lock out the
	// source address, the user and the user at that address, for a time
	// that doubles with each lock-out (see LockoutConfig). Default: 5
	// failures in 10m lock out for 30s, doubling up to 15m.
	Lockout LockoutConfig `mapstructure:"lockout"`
}

func (c RegistrarConfig) withDefaults() RegistrarConfig {
	if c.Realm == "" {
		c.Realm = defaultRealm
	}
	if c.NonceTTL == 0 {
		c.NonceTTL = defaultNonceTTL
	}
	if c.MinExpires == 0 {
		c.MinExpires = defaultMinExpires
	}
	if c.DefaultExpires == 0 {
		c.DefaultExpires = max(defaultRegExpires, c.MinExpires)
	}
	if c.MaxExpires == 0 {
		c.MaxExpires = max(defaultMaxExpires, c.DefaultExpires)
	}
	c.Lockout = c.Lockout.withDefaults()
	return c
}

func (c RegistrarConfig) validate() error {
	var errs []error
	if strings.ContainsAny(c.Realm, "\"\\\r\n") {
		errs = append(errs, fmt.Errorf("realm %q: no quotes, backslashes or line breaks", c.Realm))
	}
	if c.NonceTTL < time.Second {
		errs = append(errs, fmt.Errorf("nonce_ttl %v: at least 1s", c.NonceTTL))
	}
	if c.MinExpires < time.Second {
		errs = append(errs, fmt.Errorf("min_expires %v: at least 1s", c.MinExpires))
	}
	if c.DefaultExpires < c.MinExpires || c.DefaultExpires > c.MaxExpires {
		errs = append(errs, fmt.Errorf("default_expires %v: must lie within min_expires %v and max_expires %v",
			c.DefaultExpires, c.MinExpires, c.MaxExpires))
	}
	if err := c.Lockout.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := validateAccounts(c.Accounts); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func validateAccounts(accts []Account) error {
	var errs []error
	seen := make(map[string]bool, len(accts))
	for i, a := range accts {
		switch {
		case a.User == "":
			errs = append(errs, fmt.Errorf("accounts[%d]: empty user", i))
		case strings.ContainsAny(a.User, " \t\r\n\"<>@:;,?&=/\\"):
			errs = append(errs, fmt.Errorf("accounts[%d]: user %q: not a plain SIP user", i, a.User))
		case seen[a.User]:
			errs = append(errs, fmt.Errorf("accounts[%d]: user %q listed twice", i, a.User))
		}
		if a.Password == "" {
			errs = append(errs, fmt.Errorf("accounts[%d]: user %q: empty password", i, a.User))
		}
		seen[a.User] = true
	}
	return errors.Join(errs...)
}

// Contact is one registered binding of a user (RFC 3261 §10).
type Contact struct {
	URI       string    // the Contact URI as registered, e.g. "sip:1001@10.0.0.7:5062;transport=tcp"
	Expires   time.Time // when the binding lapses unless refreshed
	Source    string    // host:port the REGISTER came from (the phone's address as we see it)
	Transport string    // "udp" or "tcp": how the REGISTER came
	UserAgent string    // the phone's User-Agent, if it sent one
}

// binding is a Contact plus what Dial and RFC 3261 §10.3 need.
type binding struct {
	Contact
	uri      sipmsg.Uri
	key      string // uriKey(uri)
	callID   string
	cseq     uint32
	serveKey string // the served socket the REGISTER arrived on
	updated  time.Time
}

// registrar holds bindings and nonces. Its mutex is independent of
// Server.mu. Each change to a user's bindings takes a sequence number under
// mu; OnRegister reports are made after mu is released, one at a time
// (notifyMu), and a report older than one already made for that user is
// dropped: each carries the user's whole set, so the last state wins even
// when two changes race to report.
type registrar struct {
	cfg      RegistrarConfig
	nonces   *nonces
	lock     *lockout
	stats    authStats
	accounts atomic.Pointer[map[string]string]
	now      func() time.Time // a seam for tests; set before serving

	mu         sync.Mutex
	bindings   map[string][]*binding // by user
	onRegister func(user string, contacts []Contact)
	timer      *time.Timer
	closed     bool
	seq        uint64 // numbers changes

	notifyMu  sync.Mutex
	delivered map[string]uint64 // by user: the last change reported; under notifyMu
}

// notice is one OnRegister report.
type notice struct {
	user     string
	contacts []Contact
	seq      uint64
}

func newRegistrar(cfg RegistrarConfig) (*registrar, error) {
	n, err := newNonces(cfg.NonceTTL)
	if err != nil {
		return nil, err
	}
	r := &registrar{cfg: cfg, nonces: n, lock: newLockout(cfg.Lockout), now: time.Now,
		bindings: make(map[string][]*binding), delivered: make(map[string]uint64)}
	r.setAccounts(cfg.Accounts)
	return r, nil
}

func (r *registrar) setAccounts(accts []Account) {
	m := make(map[string]string, len(accts))
	for _, a := range accts {
		m[a.User] = a.Password
	}
	r.accounts.Store(&m)
}

func (r *registrar) enabled() bool { return len(*r.accounts.Load()) > 0 }

func (r *registrar) password(user string) (string, bool) {
	pw, ok := (*r.accounts.Load())[user]
	return pw, ok
}

// OnRegister sets the function told of every change to a user's set of
// bindings: a new or removed contact, an expiry, an account removed by
// SetAccounts. contacts is the user's whole current set (empty: the agent
// is gone), newest first; a refresh that changes no contact is not
// reported. Calls are made one at a time, in the order the changes
// happened (a report superseded by a later one for the same user may be
// skipped), on the goroutine that made the change: f must not block (send
// to a buffered channel, rule C2) and must not call SetAccounts; it may
// call Contacts. Set it before serving.
func (s *Server) OnRegister(f func(user string, contacts []Contact)) {
	s.reg.mu.Lock()
	s.reg.onRegister = f
	s.reg.mu.Unlock()
}

// Contacts returns the live bindings of user, newest first, or nil.
func (s *Server) Contacts(user string) []Contact {
	r := s.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	return contactsOf(r.liveLocked(user, r.now()))
}

// SetAccounts replaces the registrar's accounts (for example on a
// configuration reload). Bindings of users no longer listed are removed
// and reported to OnRegister. With no accounts the registrar is off.
func (s *Server) SetAccounts(accts []Account) error {
	if err := validateAccounts(accts); err != nil {
		return fmt.Errorf("sip: set accounts: %w", err)
	}
	r := s.reg
	r.setAccounts(accts)
	r.mu.Lock()
	var gone []string
	for user := range r.bindings {
		if _, ok := r.password(user); !ok {
			delete(r.bindings, user)
			gone = append(gone, user)
		}
	}
	slices.Sort(gone)
	var ns []notice
	for _, u := range gone {
		ns = append(ns, r.noticeLocked(u, nil))
	}
	r.rescheduleLocked()
	f := r.onRegister
	r.mu.Unlock()
	r.deliver(f, ns)
	return nil
}

// noticeLocked numbers a change to user's bindings.
func (r *registrar) noticeLocked(user string, contacts []Contact) notice {
	r.seq++
	return notice{user: user, contacts: contacts, seq: r.seq}
}

// deliver reports notices to f, called without r.mu held, so f may call
// Contacts.
func (r *registrar) deliver(f func(string, []Contact), ns []notice) {
	if len(ns) == 0 {
		return
	}
	r.notifyMu.Lock()
	defer r.notifyMu.Unlock()
	for _, n := range ns {
		if n.seq <= r.delivered[n.user] {
			continue // a later change was reported already
		}
		r.delivered[n.user] = n.seq
		if f != nil {
			f(n.user, n.contacts)
		}
	}
}

// liveLocked returns the bindings of user that have not expired. Expired
// ones stay stored until expire (or a REGISTER of the user) removes and
// reports them.
func (r *registrar) liveLocked(user string, now time.Time) []*binding {
	var live []*binding
	for _, b := range r.bindings[user] {
		if now.Before(b.Expires) {
			live = append(live, b)
		}
	}
	return live
}

func contactsOf(bs []*binding) []Contact {
	if len(bs) == 0 {
		return nil
	}
	out := make([]Contact, len(bs))
	sorted := slices.Clone(bs)
	slices.SortStableFunc(sorted, func(a, b *binding) int { return b.updated.Compare(a.updated) })
	for i, b := range sorted {
		out[i] = b.Contact
	}
	return out
}

func keysOf(bs []*binding) []string {
	ks := make([]string, len(bs))
	for i, b := range bs {
		ks[i] = b.key
	}
	slices.Sort(ks)
	return ks
}

// expire removes lapsed bindings and reports the users whose set changed.
func (r *registrar) expire() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	now := r.now()
	var users []string
	for user, bs := range r.bindings {
		live := r.liveLocked(user, now)
		if len(live) == len(bs) {
			continue
		}
		if len(live) == 0 {
			delete(r.bindings, user)
		} else {
			r.bindings[user] = live
		}
		users = append(users, user)
	}
	slices.Sort(users)
	ns := make([]notice, len(users))
	for i, u := range users {
		ns[i] = r.noticeLocked(u, contactsOf(r.bindings[u]))
	}
	r.rescheduleLocked()
	f := r.onRegister
	r.mu.Unlock()
	r.deliver(f, ns)
}

// rescheduleLocked arms the expiry timer for the earliest binding.
func (r *registrar) rescheduleLocked() {
	if r.closed {
		return
	}
	var next time.Time
	for _, bs := range r.bindings {
		for _, b := range bs {
			if next.IsZero() || b.Expires.Before(next) {
				next = b.Expires
			}
		}
	}
	if next.IsZero() {
		if r.timer != nil {
			r.timer.Stop()
		}
		return
	}
	d := max(next.Sub(r.now()), 0) + 10*time.Millisecond
	if r.timer == nil {
		r.timer = time.AfterFunc(d, r.expire)
		return
	}
	r.timer.Reset(d)
}

// close stops the expiry timer for good.
func (r *registrar) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.timer != nil {
		r.timer.Stop()
	}
}

// newest returns the most recently refreshed live binding of user.
func (r *registrar) newest(user string) (binding, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	live := r.liveLocked(user, r.now())
	if len(live) == 0 {
		return binding{}, false
	}
	b := slices.MaxFunc(live, func(a, b *binding) int { return a.updated.Compare(b.updated) })
	return *b, true
}

// lookup returns the live binding whose URI is u, of any user.
func (r *registrar) lookup(u sipmsg.Uri) (binding, bool) {
	key := uriKey(u)
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for user := range r.bindings {
		for _, b := range r.liveLocked(user, now) {
			if b.key == key {
				return *b, true
			}
		}
	}
	return binding{}, false
}

// onRegister serves REGISTER (RFC 3261 §10.3).
func (s *Server) onRegister(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	r := s.reg
	if !r.enabled() {
		s.onUnserved(req, tx)
		return
	}
	to, cid, cseq := req.To(), req.CallID(), req.CSeq()
	if to == nil || cid == nil || cseq == nil || req.From() == nil || to.Address.User == "" {
		s.respond(tx, req, 400)
		return
	}
	user := to.Address.User

	// §10.3 step 3: authenticate (§22).
	now := r.now()
	src := sourceKey(req.Source())
	res, ls := r.authenticate(req, user, src, now)
	if ls != nil {
		// Once per lock-out: attempts during it are not counted.
		s.log.Warn("registrar lock-out: too many failed digest checks", "source", ls.source,
			"user", ls.user, "scope", strings.Join(ls.scopes, ", "), "for", ls.d)
	}
	switch res {
	case authOK:
	case authChallenge, authStale:
		s.respond(tx, req, 401, sipmsg.NewHeader("WWW-Authenticate", r.challenge(now, src, res == authStale)))
		return
	case authBad:
		s.respond(tx, req, 400)
		return
	default:
		// Unknown user, wrong password, locked out, no qop: one answer,
		// so none can be told from another.
		s.respond(tx, req, 403)
		return
	}

	contacts, wildcard, err := registerContacts(req)
	if err != nil {
		s.log.Debug("bad REGISTER", "user", user, "error", err, "source", req.Source())
		s.respond(tx, req, 400)
		return
	}
	hdrExp := -1
	if h := req.GetHeader("Expires"); h != nil {
		n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			s.respond(tx, req, 400)
			return
		}
		hdrExp = int(n)
	}
	// §10.3 step 6: "*" only alone and with Expires: 0.
	if wildcard && (len(contacts) > 0 || hdrExp != 0) {
		s.respond(tx, req, 400)
		return
	}
	minExp := int(r.cfg.MinExpires / time.Second)
	for i := range contacts {
		e := &contacts[i].expires
		switch {
		case *e < 0 && hdrExp >= 0:
			*e = hdrExp
		case *e < 0:
			*e = int(r.cfg.DefaultExpires / time.Second)
		}
		if *e > 0 && *e < minExp { // §10.3 step 7, RFC 3261 §21.4.17
			s.respond(tx, req, 423, sipmsg.NewHeader("Min-Expires", strconv.Itoa(minExp)))
			return
		}
		*e = min(*e, int(r.cfg.MaxExpires/time.Second))
	}

	ctx := regContext{
		callID: cid.Value(), cseq: cseq.SeqNo, now: now, source: req.Source(),
		transport: strings.ToLower(req.Transport()), serveKey: serveKeyOf(req, localAddr(tx)),
	}
	if h := req.GetHeader("User-Agent"); h != nil {
		ctx.userAgent = h.Value()
	}
	code, current := r.apply(user, contacts, wildcard, ctx)
	if code != 200 {
		s.respond(tx, req, code)
		return
	}
	// §10.3 step 8: the 200 lists every current binding.
	hdrs := make([]sipmsg.Header, 0, len(current)+1)
	for _, b := range current {
		ct := &sipmsg.ContactHeader{Address: *b.uri.Clone(), Params: sipmsg.NewParams()}
		secs := int((b.Expires.Sub(now) + time.Second - 1) / time.Second)
		ct.Params.Add("expires", strconv.Itoa(secs))
		hdrs = append(hdrs, ct)
	}
	hdrs = append(hdrs, sipmsg.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	if c := edgeConnOf(tx); c != nil {
		c.earn() // an authenticated phone keeps its connection open to be called over it
	}
	s.respond(tx, req, 200, hdrs...)
}

// regContact is one Contact of a REGISTER.
type regContact struct {
	uri     sipmsg.Uri
	expires int // seconds; -1 until defaulted
}

// regContext is what a binding records of the REGISTER that made it.
type regContext struct {
	callID    string
	cseq      uint32
	now       time.Time
	source    string
	transport string
	serveKey  string
	userAgent string
}

// apply updates user's bindings atomically (§10.3 steps 6-7) and returns
// 200 and the current bindings, or the failure code.
func (r *registrar) apply(user string, cs []regContact, wildcard bool, rc regContext) (int, []*binding) {
	r.mu.Lock()
	if _, ok := r.password(user); !ok { // removed by SetAccounts meanwhile
		r.mu.Unlock()
		return 403, nil
	}
	// Compare against every stored binding, expired ones included: those
	// not yet reported by expire are still in OnRegister's last report.
	before := keysOf(r.bindings[user])
	live := r.liveLocked(user, rc.now)
	find := func(key string) int {
		return slices.IndexFunc(live, func(b *binding) bool { return b.key == key })
	}
	// A binding refreshed by this Call-ID with an equal or higher CSeq
	// means this REGISTER is out of order: abort (§10.3 step 7).
	stale := func(b *binding) bool { return b.callID == rc.callID && rc.cseq <= b.cseq }
	if wildcard {
		for _, b := range live {
			if stale(b) {
				r.mu.Unlock()
				return 500, nil
			}
		}
		live = nil
	}
	for _, c := range cs {
		if i := find(uriKey(c.uri)); i >= 0 && stale(live[i]) {
			r.mu.Unlock()
			return 500, nil
		}
	}
	for _, c := range cs {
		key := uriKey(c.uri)
		i := find(key)
		if c.expires == 0 {
			if i >= 0 {
				live = slices.Delete(live, i, i+1)
			}
			continue
		}
		b := &binding{
			Contact: Contact{
				URI:       c.uri.String(),
				Expires:   rc.now.Add(time.Duration(c.expires) * time.Second),
				Source:    rc.source,
				Transport: rc.transport,
				UserAgent: rc.userAgent,
			},
			uri: c.uri, key: key, callID: rc.callID, cseq: rc.cseq,
			serveKey: rc.serveKey, updated: rc.now,
		}
		if i >= 0 {
			live[i] = b
		} else {
			live = append(live, b)
		}
	}
	if len(live) > maxRegisteredContacts {
		r.mu.Unlock()
		return 403, nil
	}
	if len(live) == 0 {
		delete(r.bindings, user)
	} else {
		r.bindings[user] = live
	}
	r.rescheduleLocked()
	if slices.Equal(before, keysOf(live)) {
		r.mu.Unlock()
		return 200, live
	}
	n := r.noticeLocked(user, contactsOf(live))
	f := r.onRegister
	r.mu.Unlock()
	r.deliver(f, []notice{n})
	return 200, live
}

// registerContacts returns a REGISTER's contacts and whether it carried
// the "*" wildcard.
func registerContacts(req *sipmsg.Request) ([]regContact, bool, error) {
	var out []regContact
	wildcard := false
	for _, h := range req.GetHeaders("Contact") {
		ct, ok := h.(*sipmsg.ContactHeader)
		if !ok {
			ct = &sipmsg.ContactHeader{}
			if _, err := sipmsg.ParseAddressValue(h.Value(), &ct.Address, &ct.Params); err != nil {
				return nil, false, fmt.Errorf("contact %q: %w", h.Value(), err)
			}
		}
		if ct.Address.Wildcard {
			wildcard = true
			continue
		}
		if ct.Address.Host == "" {
			return nil, false, fmt.Errorf("contact %q: no host", ct.Value())
		}
		c := regContact{uri: *ct.Address.Clone(), expires: -1}
		if v, ok := ct.Params.Get("expires"); ok {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return nil, false, fmt.Errorf("contact %q: expires: %w", ct.Value(), err)
			}
			c.expires = int(n)
		}
		out = append(out, c)
	}
	return out, wildcard, nil
}

// uriKey is a simplified RFC 3261 §19.1.4 comparison key: scheme, user,
// host (case-insensitive), port and transport.
func uriKey(u sipmsg.Uri) string {
	scheme := cmp.Or(strings.ToLower(u.Scheme), "sip")
	transport := "udp"
	if u.UriParams != nil {
		transport = strings.ToLower(u.UriParams.GetOr("transport", "udp"))
	}
	return scheme + ":" + u.User + "@" + strings.ToLower(u.Host) + ":" + strconv.Itoa(u.Port) + ";" + transport
}

func sameURI(a, b sipmsg.Uri) bool { return uriKey(a) == uriKey(b) }

// serveKeyOf names the served socket a request arrived on.
func serveKeyOf(req *sipmsg.Request, la net.Addr) string {
	port := ""
	if la != nil {
		_, port, _ = net.SplitHostPort(la.String())
	}
	return strings.ToLower(req.Transport()) + ":" + port
}
