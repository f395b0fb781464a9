package ivr

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/hotline-ivr/hotline/media"
	"github.com/hotline-ivr/hotline/media/sdp"
	"github.com/hotline-ivr/hotline/queue"
	"github.com/hotline-ivr/hotline/sip"
)

// AgentCodesConfig are the feature codes an agent dials from its registered softphone to
// change its state in every queue it serves.
type AgentCodesConfig struct {
	Ready  string `mapstructure:"ready"`  // default *21
	Pause  string `mapstructure:"pause"`  // default *22
	Logout string `mapstructure:"logout"` // default *23
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
