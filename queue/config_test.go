package queue

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string // Problem paths
	}{
		{name: "valid zero", change: func(*Config) {}},
		{name: "valid full", change: func(c *Config) {
			c.Strategy, c.RingTimeout, c.WrapUp, c.MaxLength, c.MaxWait = StrategyRandom, time.Second, time.Second, 10, time.Minute
			c.NoAgents, c.ExitKey, c.AnnounceInterval = NoAgentsLeaveWhenEmpty, "#", time.Second
			c.Callback = CallbackConfig{Mode: CallbackCustomerFirst, InitialDelay: time.Second, MaxAttempts: 5, RetryDelay: time.Second, CallerID: "+15551234"}
		}},
		{name: "unknown strategy", change: func(c *Config) { c.Strategy = "ringall" }, want: []string{"queues.billing.strategy"}},
		{name: "negative durations", change: func(c *Config) {
			c.RingTimeout, c.WrapUp, c.MaxWait, c.ServiceTime = -1, -1, -1, -1
			c.AbandonWindow, c.AnnounceInterval, c.Callback.InitialDelay, c.Callback.RetryDelay = -1, -1, -1, -1
		}, want: []string{
			"queues.billing.abandon_window", "queues.billing.announce_interval",
			"queues.billing.callback.initial_delay", "queues.billing.callback.retry_delay",
			"queues.billing.max_wait", "queues.billing.ring_timeout",
			"queues.billing.service_time", "queues.billing.wrap_up",
		}},
		{name: "negative counts", change: func(c *Config) { c.MaxLength, c.Callback.MaxAttempts = -1, -2 },
			want: []string{"queues.billing.callback.max_attempts", "queues.billing.max_length"}},
		{name: "unknown policy", change: func(c *Config) { c.NoAgents = "leave" }, want: []string{"queues.billing.no_agents"}},
		{name: "unknown callback mode", change: func(c *Config) { c.Callback.Mode = "agent" }, want: []string{"queues.billing.callback.mode"}},
		{name: "bad exit key", change: func(c *Config) { c.ExitKey = "10" }, want: []string{"queues.billing.exit_key"}},
		{name: "exit key letter", change: func(c *Config) { c.ExitKey = "A" }, want: []string{"queues.billing.exit_key"}},
		{name: "caller id control char", change: func(c *Config) { c.Callback.CallerID = "+1\n555" }, want: []string{"queues.billing.callback.caller_id"}},
		{name: "no name", change: func(c *Config) { c.Name = "" }, want: []string{"queues.(unnamed).name"}},
		{name: "dotted name", change: func(c *Config) { c.Name = "a.b" }, want: []string{"queues.a.b.name"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Config{Name: "billing"}
			tc.change(&c)
			err := c.Validate()
			var got []string
			if err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var p *Problem
					if !errors.As(e, &p) {
						t.Fatalf("not a *Problem: %v", e)
					}
					got = append(got, p.Path)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("problems = %v\nerr: %v\nwant paths %v", got, err, tc.want)
			}
			if _, nerr := New(c); (nerr == nil) != (len(tc.want) == 0) {
				t.Errorf("New error = %v, want error %v", nerr, len(tc.want) > 0)
			}
		})
	}
}

func TestConfig_ProblemMessage(t *testing.T) {
	t.Parallel()
	err := Config{Name: "billing", Strategy: "fastest"}.Validate()
	want := `queues.billing.strategy: unknown strategy "fastest" (want one of ring-all, longest-idle, round-robin, fewest-calls, random)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestConfig_Defaults(t *testing.T) {
	t.Parallel()
	q, err := New(Config{Name: "q"})
	if err != nil {
		t.Fatal(err)
	}
	c := q.Config()
	want := Config{
		Name: "q", Strategy: StrategyLongestIdle, RingTimeout: 20 * time.Second, MaxWait: 5 * time.Minute,
		ServiceTime: 3 * time.Minute, AbandonWindow: 5 * time.Minute, NoAgents: NoAgentsJoin,
		AnnounceInterval: time.Minute,
		Callback:         CallbackConfig{Mode: CallbackAgentFirst, MaxAttempts: 3, RetryDelay: 5 * time.Minute},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
}
