package ivr

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// Party is one end of a call as the caller presented it (From user and display name).
type Party struct {
	User    string `json:"user"`
	Display string `json:"display,omitempty"`
	URI     string `json:"uri,omitempty"`
}

// NodeVisit is one menu node the caller entered.
type NodeVisit struct {
	Node string    `json:"node"`
	At   time.Time `json:"at"`
}

// KeyPress is one key the caller pressed, with how it arrived.
type KeyPress struct {
	Key  string    `json:"key"`
	Mode string    `json:"mode"`
	Node string    `json:"node"`
	At   time.Time `json:"at"`
	// LatencyMs is how long after the key went down Hotline knew of it: the in-band
	// detector's confirmation time; 0 for RFC 4733 (reported on the event's first packet)
	// and INFO (reported on arrival).
	LatencyMs float64 `json:"latency_ms"`
}

// PromptPlay is one prompt that started playing to the caller.
type PromptPlay struct {
	Prompt string    `json:"prompt"`
	At     time.Time `json:"at"`
}

// CallRecord is what the admin API shows of a call, live or finished.
type CallRecord struct {
	CallID    string `json:"call_id"`
	Direction string `json:"direction"` // inbound, outbound
	Kind      string `json:"kind"`      // caller, callback
	Caller    Party  `json:"caller"`
	Asserted  *Party `json:"asserted_identity,omitempty"` // P-Asserted-Identity of a trusted trunk
	// Trusted: the caller's identity is one a trusted trunk vouched for; false: the caller
	// is who the From header claims, unverified.
	Trusted     bool              `json:"identity_trusted"`
	Source      string            `json:"source,omitempty"`
	Trunk       string            `json:"trunk,omitempty"` // the trunk the call came from
	Codec       string            `json:"codec,omitempty"`
	DTMFMode    string            `json:"dtmf_mode,omitempty"`
	TreeVersion string            `json:"tree_version,omitempty"`
	Start       time.Time         `json:"start"`
	End         *time.Time        `json:"end,omitempty"`
	Nodes       []NodeVisit       `json:"nodes"`
	Keys        []KeyPress        `json:"keys"`
	Prompts     []PromptPlay      `json:"prompts"`
	Variables   map[string]string `json:"variables,omitempty"` // collected input, e.g. an account number
	Language    string            `json:"language,omitempty"`
	Freeze      *FreezeRecord     `json:"freeze,omitempty"`
	Queue       *QueueRecord      `json:"queue,omitempty"`
	Transfer    *TransferRecord   `json:"transfer,omitempty"`
	// AgentTransfers are the transfer codes the bridged agent pressed, refused ones too.
	AgentTransfers []AgentTransfer `json:"agent_transfers,omitempty"`
	// Peer is the Call-ID of the leg this one was bridged to (the agent's, or the caller's).
	Peer    string `json:"peer,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	// Phases are the call-model phases the call went through (menu, lane, hold, bridged,
	// ending), in order.
	Phases []PhaseVisit `json:"phases"`
}

// PhaseVisit is one phase of the call model a call entered.
type PhaseVisit struct {
	Phase string    `json:"phase"`
	At    time.Time `json:"at"`
}

// FreezeRecord is what the freeze lane did in a call.
type FreezeRecord struct {
	Account   string `json:"account,omitempty"`
	Reference string `json:"reference,omitempty"`
	Refused   string `json:"refused,omitempty"` // reason, when refused
	// RecordedMs is from the key press to the freeze committed; ConfirmMs to the start of
	// the confirmation audio.
	RecordedMs float64 `json:"recorded_ms,omitempty"`
	ConfirmMs  float64 `json:"confirm_ms,omitempty"`
}

// TransferRecord is a menu transfer: its target, when it was dialled and answered, and
// how it went (answered, busy, no-answer, failed, canceled).
type TransferRecord struct {
	Target     string     `json:"target"` // the URI, or trunk:number
	At         time.Time  `json:"at"`
	AnsweredAt *time.Time `json:"answered_at,omitempty"`
	Outcome    string     `json:"outcome,omitempty"`
	Peer       string     `json:"peer,omitempty"` // the other leg's Call-ID
}

// AgentTransfer is a blind transfer a bridged agent asked for by feature code: who, from
// which queue, to which queue or number, and why it was refused, if it was.
type AgentTransfer struct {
	Agent   string    `json:"agent"`
	From    string    `json:"from_queue"`
	Queue   string    `json:"queue,omitempty"`  // the target queue
	Number  string    `json:"number,omitempty"` // the target number
	At      time.Time `json:"at"`
	Refused string    `json:"refused,omitempty"` // unknown-key, not-allowed, denied, bad-number
}

// clone returns a deep copy, so the call goroutine can keep appending to its own record.
func (r *CallRecord) clone() *CallRecord {
	c := *r
	c.Nodes = append([]NodeVisit{}, r.Nodes...) // [] not null in the API
	c.Keys = append([]KeyPress{}, r.Keys...)
	c.Prompts = append([]PromptPlay{}, r.Prompts...)
	c.Phases = append([]PhaseVisit{}, r.Phases...)
	c.Variables = maps.Clone(r.Variables)
	c.AgentTransfers = slices.Clone(r.AgentTransfers)
	if r.Freeze != nil {
		f := *r.Freeze
		c.Freeze = &f
	}
	if r.Queue != nil {
		q := *r.Queue
		c.Queue = &q
	}
	if r.Transfer != nil {
		t := *r.Transfer
		if t.AnsweredAt != nil {
			a := *t.AnsweredAt
			t.AnsweredAt = &a
		}
		c.Transfer = &t
	}
	if r.End != nil {
		e := *r.End
		c.End = &e
	}
	return &c
}

// records holds published copies of live call records and a ring of finished ones.
// Call goroutines publish a copy after each event; the admin API reads.
type records struct {
	mu       sync.Mutex
	live     map[string]*CallRecord
	finished []*CallRecord // ring, oldest first once full
	next     int
	size     int
}

func newRecords(size int) *records {
	if size <= 0 {
		size = 1000
	}
	return &records{live: make(map[string]*CallRecord), size: size}
}

func (rs *records) publish(r *CallRecord) {
	c := r.clone()
	rs.mu.Lock()
	rs.live[c.CallID] = c
	rs.mu.Unlock()
}

func (rs *records) finish(r *CallRecord) {
	c := r.clone()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	delete(rs.live, c.CallID)
	if len(rs.finished) < rs.size {
		rs.finished = append(rs.finished, c)
		return
	}
	rs.finished[rs.next] = c
	rs.next = (rs.next + 1) % rs.size
}

// liveCount returns how many calls are live.
func (rs *records) liveCount() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.live)
}

// snapshot returns live calls (by start time) and finished calls, newest first.
func (rs *records) snapshot() (live, finished []*CallRecord) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, r := range rs.live {
		live = append(live, r)
	}
	slices.SortFunc(live, func(a, b *CallRecord) int { return a.Start.Compare(b.Start) })
	n := len(rs.finished)
	finished = make([]*CallRecord, 0, n)
	for i := range n {
		// newest first: the element just before next, walking backwards
		finished = append(finished, rs.finished[(rs.next-1-i+2*n)%n])
	}
	return live, finished
}

// find returns the record of a call by Call-ID, live or finished.
func (rs *records) find(id string) *CallRecord {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if r, ok := rs.live[id]; ok {
		return r
	}
	for _, r := range rs.finished {
		if r.CallID == id {
			return r
		}
	}
	return nil
}
