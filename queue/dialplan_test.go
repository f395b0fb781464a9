package queue

import (
	"errors"
	"strings"
	"testing"
)

func TestDialPlan_Check(t *testing.T) {
	t.Parallel()
	cn, err := CompileDialPlan([]string{`/\+861[3-9][0-9]{9}/`, "+4915", "+1", "1"}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		plan   DialPlan
		number string
		want   error
	}{
		{"national mobile", cn, "+8613800138000", nil},
		{"mobile prefix", cn, "+491512345678", nil},
		{"regexp is anchored at the end", cn, "+86138001380001", ErrNotAllowed},
		{"regexp is anchored at the start", cn, "0+8613800138000", ErrBadNumber},
		{"premium from the finding", cn, "+19005550199", ErrDenied},
		{"NANP toll free passes the broad +1", cn, "+18005550199", nil},
		{"landline not listed", cn, "+862112345678", ErrNotAllowed},
		{"international access prefix", DialPlan{}, "0044123", ErrNotAllowed},
		{"empty plan allows nothing", DialPlan{}, "+8613800138000", ErrNotAllowed},
		{"a SIP URI is no number", cn, "sip:+8613800138000@evil.example", ErrBadNumber},
		{"separators", cn, "+86 138 0013 8000", ErrBadNumber},
		{"too long", cn, "+1" + strings.Repeat("5", 40), ErrBadNumber},
		{"emergency under a broad prefix", cn, "112", ErrDenied},
		{"NANP emergency", cn, "911", ErrDenied},
		{"short code", cn, "+1555", ErrDenied},
		{"Chinese mobile 190x passes", cn, "19001234567", nil},
		{"empty", cn, "", ErrBadNumber},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := tc.plan.Check(tc.number); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("Check(%q) = %v, want %v", tc.number, err, tc.want)
			}
		})
	}
}

func TestDialPlan_DenyDefaultsAndReplacement(t *testing.T) {
	t.Parallel()
	all := []string{`/\+?[0-9]+/`}
	def, err := CompileDialPlan(all, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"0044201234567", "01144201234567", "+19005550199", "09001234567", "+449012345678"} {
		if err := def.Check(n); !errors.Is(err, ErrDenied) {
			t.Errorf("default deny: Check(%q) = %v, want ErrDenied", n, err)
		}
	}
	for _, extra := range [][]string{nil, {}, {"+86"}} {
		p, err := CompileDialPlan(all, extra, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Check("09001234567"); !errors.Is(err, ErrDenied) {
			t.Errorf("deny %q: the default stays; Check = %v", extra, err)
		}
	}
	open, err := CompileDialPlan(all, []string{"+86"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := open.Check("09001234567"); err != nil {
		t.Errorf("default dropped: Check = %v, want allowed", err)
	}
	if err := open.Check("+8613800138000"); !errors.Is(err, ErrDenied) {
		t.Errorf("default dropped, own deny kept: Check = %v", err)
	}
}

func TestDialPlan_CheckUser(t *testing.T) {
	t.Parallel()
	none, _ := CompileDialPlan(nil, nil, false) // no allow list, the default deny list
	some, _ := CompileDialPlan([]string{"/agent[0-9]+/"}, []string{"0044"}, false)
	tests := []struct {
		plan DialPlan
		name string
		want error
	}{
		{none, "alice", nil},
		{none, "alice@evil.example", ErrBadNumber},
		{none, "sip:alice", ErrBadNumber},
		{none, "alice;transport=tcp", ErrBadNumber},
		{none, "+200", nil}, // a registered phone's number: the default deny is about the network
		{some, "00441234", ErrDenied},
		{some, "agent7", nil},
		{some, "alice", ErrNotAllowed},
	}
	for _, tc := range tests {
		if err := tc.plan.CheckUser(tc.name); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("CheckUser(%q) = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestDialPlan_BadPatternsNamed(t *testing.T) {
	t.Parallel()
	c := Config{Name: "support", Callback: CallbackConfig{Allow: []string{"+86", "86 1", "/[/"}, Deny: []string{"x"}}}
	err := c.Validate()
	for _, want := range []string{"queues.support.callback.allow.1:", "queues.support.callback.allow.2:", "queues.support.callback.deny.0:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want a problem at %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "allow.0") {
		t.Errorf("Validate = %v: +86 is a good prefix", err)
	}
}
