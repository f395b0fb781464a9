package ivr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/media/sdp"
	"github.com/hotline-ivr/hotline/queue"
	"github.com/hotline-ivr/hotline/sip"
)

// AgentCodesConfig are the feature codes an agent dials from its registered softphone to
// change its state in every queue it serves, and the codes an agent presses while bridged
// to a caller to blind-transfer them (phase_bridged.go).
type AgentCodesConfig struct {
	Ready  string `mapstructure:"ready"`  // default *21
	Pause  string `mapstructure:"pause"`  // default *22
	Logout string `mapstructure:"logout"` // default *23

	// Transfer maps the key an agent presses after TransferCode to the queue the caller is
	// transferred to ({"1": "support", "2": "recovery"}); empty: no queue transfers.
	Transfer map[string]string `mapstructure:"transfer"`
	// TransferCode starts a transfer to a queue: the code, then one key of Transfer.
	TransferCode string `mapstructure:"transfer_code"` // default *7
	// TransferNumberCode starts a transfer to a number: the code, the digits, then #.
	TransferNumberCode string `mapstructure:"transfer_number_code"` // default *8
	// TransferAllow is the dial plan a transferred-to number must pass (queue.CompileDialPlan
	// patterns, with the default callback deny list); empty: numbers are refused.
	TransferAllow []string `mapstructure:"transfer_allow"`
	// TransferTrunk dials transferred-to numbers; default the queue's callback_trunk, and
	// without either the number is a phone registered here.
	TransferTrunk string `mapstructure:"transfer_trunk"`
	// TransferPriority is the priority a caller transferred to a queue joins it at, ahead of
	// the callers who have not yet talked to anyone (the wait so far counts); default 1000.
	TransferPriority int `mapstructure:"transfer_priority"`
}

// agentTransferGap is the longest pause between two keys of one transfer code: a code left
// half-pressed is forgotten after it.
const agentTransferGap = 5 * time.Second

// agentTransfers are the compiled transfer codes.
type agentTransfers struct {
	code, numberCode string
	queues           map[byte]string // nil: no queue transfers
	numbers          bool            // some number may pass the plan
	plan             queue.DialPlan
	trunk            string
	priority         int
}

// transfers compiles the transfer codes against the configured queues.
func (c AgentCodesConfig) transfers(queues map[string]QueueConfig) (agentTransfers, error) {
	t := agentTransfers{code: cmpOr(c.TransferCode, "*7"), numberCode: cmpOr(c.TransferNumberCode, "*8"),
		trunk: c.TransferTrunk, priority: c.TransferPriority, numbers: len(c.TransferAllow) > 0}
	if t.priority == 0 {
		t.priority = 1000
	}
	var errs []error
	for _, code := range []string{t.code, t.numberCode} {
		if strings.Trim(code, "0123456789*#") != "" {
			errs = append(errs, fmt.Errorf("agent_codes: transfer code %q: keys 0-9 * # only", code))
		}
	}
	if strings.HasPrefix(t.code, t.numberCode) || strings.HasPrefix(t.numberCode, t.code) {
		errs = append(errs, fmt.Errorf("agent_codes: transfer_code %q and transfer_number_code %q: one starts the other", t.code, t.numberCode))
	}
	for key, qn := range c.Transfer {
		if len(key) != 1 || strings.Trim(key, "0123456789*#") != "" {
			errs = append(errs, fmt.Errorf("agent_codes.transfer: key %q: one key 0-9 * #", key))
		}
		if _, ok := queues[qn]; !ok {
			errs = append(errs, fmt.Errorf("agent_codes.transfer.%s: no queue %q", key, qn))
		}
		if t.queues == nil {
			t.queues = map[byte]string{}
		}
		if key != "" {
			t.queues[key[0]] = qn
		}
	}
	plan, err := queue.CompileDialPlan(c.TransferAllow, nil, false)
	if err != nil {
		errs = append(errs, fmt.Errorf("agent_codes.transfer_allow: %w", err))
	}
	t.plan = plan
	return t, errors.Join(errs...)
}

// enabled says whether an agent may transfer at all: then the agent's keys go to the
// caller's call, not to the caller.
func (t *agentTransfers) enabled() bool { return t != nil && (len(t.queues) > 0 || t.numbers) }

// What the keys pressed so far make.
const (
	codeNone    = iota // no code: forget them
	codeMore           // the start of a code: wait for the next key
	codeQueue          // a transfer to the queue target
	codeNumber         // a transfer to the number target
	codeRefused        // a complete code that is refused (why: target)
)

// match reads the keys pressed so far (pure: the bridged phase keeps them).
func (t *agentTransfers) match(keys string) (verdict int, target string) {
	if len(t.queues) > 0 {
		switch {
		case strings.HasPrefix(t.code, keys):
			return codeMore, ""
		case len(keys) == len(t.code)+1 && strings.HasPrefix(keys, t.code):
			if qn, ok := t.queues[keys[len(keys)-1]]; ok {
				return codeQueue, qn
			}
			return codeRefused, "unknown-key"
		}
	}
	if t.numbers {
		switch {
		case strings.HasPrefix(t.numberCode, keys):
			return codeMore, ""
		case strings.HasPrefix(keys, t.numberCode):
			num, done := strings.CutSuffix(keys[len(t.numberCode):], "#")
			switch {
			case strings.Trim(num, "0123456789") != "" || len(num) > maxKeyedDigits:
				return codeRefused, refusedBadNumber
			case !done:
				return codeMore, ""
			}
			if err := t.plan.Check(num); err != nil {
				return codeRefused, refusalReason(err)
			}
			return codeNumber, num
		}
	}
	return codeNone, ""
}

func (c AgentCodesConfig) states() map[string]queue.AgentState {
	return map[string]queue.AgentState{
		cmpOr(c.Ready, "*21"):  queue.AgentReady,
		cmpOr(c.Pause, "*22"):  queue.AgentPaused,
		cmpOr(c.Logout, "*23"): queue.AgentLoggedOut,
	}
}

// contactLister is what the feature codes need of the registrar (*sip.Server): to check
// that the code was dialled from the agent's registered phone, not merely with its name.
type contactLister interface {
	Contacts(user string) []sip.Contact
}

// serveAgentCode answers a feature-code call: sets the agent's state when the call comes
// from that agent's registered contact, says what it did, and hangs up.
func (e *Engine) serveAgentCode(ctx context.Context, l *sip.Leg, st queue.AgentState) error {
	release, ok := e.admit(DirectionInbound, KindAgentCode)
	if !ok { // refused before anything changes
		return &sip.RejectError{Code: 503, Reason: "Service Unavailable", Err: fmt.Errorf("call %s: %w", l.ID(), errShed)}
	}
	defer release()
	d := e.dispatch
	user := l.From().User
	prompt := "queue/en/agent_unknown"
	id, ok := d.byUser[user]
	if ok && d.registeredFrom(user, l.Source()) {
		if _, err := d.setAgentState(id, st.String()); err == nil {
			prompt = map[queue.AgentState]string{queue.AgentReady: "queue/en/agent_ready",
				queue.AgentPaused: "queue/en/agent_paused", queue.AgentLoggedOut: "queue/en/agent_logged_out"}[st]
			e.log.Info("agent state by feature code", "agent", id, "state", st)
		}
	}
	conn, err := e.pool.Listen()
	if err != nil {
		return &sip.RejectError{Code: 503, Reason: "Service Unavailable", Err: err}
	}
	defer e.pool.Release(conn)
	local := netip.AddrPortFrom(e.advertise, uint16(conn.LocalAddr().(*net.UDPAddr).Port))
	answer, neg, err := sdp.Answer(l.RemoteSDP(), sdp.AnswerOptions{Addr: local, Codecs: e.cfg.Media.CodecNames(), SessionID: uint64(e.now().UnixNano())})
	if err != nil {
		return &sip.RejectError{Code: 488, Reason: "Not Acceptable Here", Err: fmt.Errorf("call %s: sdp: %w", l.ID(), err)}
	}
	// As for every inbound call: nothing is sent before the ACK, and RTP is latched only from
	// the SDP's address or the INVITE's source.
	sess := media.NewSession(conn, media.SessionConfig{Codec: neg.Codec, DTMFPT: neg.DTMFPT, Remote: neg.Remote,
		PeerIP: addrOf(l.Source()), Muted: true})
	sess.Start(ctx)
	defer sess.Close()
	if err := l.Answer(ctx, answer); err != nil {
		return err
	}
	sess.SetMuted(false)
	// A call of the same model: it says what it did, then hangs up.
	f := l.From()
	menu := e.menu.Load()
	c := &call{e: e, leg: answered{l}, m: sess, menu: menu, trunk: "agent_code",
		rec: &CallRecord{CallID: l.ID(), Direction: DirectionInbound, Kind: KindAgentCode, Source: l.Source(),
			Caller: Party{User: f.User, Display: f.Display, URI: f.URI}, TreeVersion: menu.Tree.Version(), Start: e.now()}}
	c.playNamed(prompt)
	return e.runCall(ctx, c, newEnding(OutcomeCompleted))
}

// registeredFrom reports whether user has a registration from source (host:port).
func (d *dispatcher) registeredFrom(user, source string) bool {
	if d.contacts == nil {
		return false
	}
	for _, c := range d.contacts.Contacts(user) {
		if c.Source == source {
			return true
		}
	}
	return false
}
