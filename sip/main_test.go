package sip_test

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// sipgo's RFC 3261 timers are process-wide: set them once, here, never
	// per test (STYLE §7.7). The RFC defaults suit these tests: nothing
	// waits for a timeout, and a long T1 keeps 2xx retransmissions from
	// crossing ACKs on a loaded machine.
	sipmsg.SetTimers(500*time.Millisecond, 4*time.Second, 5*time.Second)

	flag.Parse()
	if !testing.Verbose() {
		// sipgo logs through slog's default logger; keep test output quiet.
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	} else {
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	}
	goleak.VerifyTestMain(m)
}
