package ivr

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline-ivr/hotline/sip"
)

// sipStats is what the metrics read of the SIP server: what its trust check, its edges and
// its registrar refused, and its trunks' states. *sip.Server is one.
type sipStats interface {
	RefusedInvites() uint64
	EdgeStats() sip.EdgeStats
	AuthStats() sip.AuthStats
	LimitStats() sip.LimitStats
	Trunks() []sip.TrunkState
}

// ExportSIPStats publishes the SIP server's refusal counters and trunk states on the
// engine's /metrics, and the trunk states on /api/v1/trunks. Call it once, before serving.
func (e *Engine) ExportSIPStats(s sipStats) {
	e.sipStats = s
	e.metrics.reg.MustRegister(&sipCollector{s: s})
}

var (
	descRefusedInvites = prometheus.NewDesc("hotline_sip_invites_refused_total",
		"INVITEs refused with 403: their source is no trunk, no registered phone and not in sip.allow.", nil, nil)
	descParseErrors = prometheus.NewDesc("hotline_sip_parse_errors_total",
		"SIP messages that could not be parsed (dropped; a TCP connection is closed).", nil, nil)
	descBadRequests = prometheus.NewDesc("hotline_sip_bad_requests_total",
		"Requests refused by the version and header checks (505, 400, 416, 420; a malformed ACK is dropped and counted).", nil, nil)
	descLogsSuppressed = prometheus.NewDesc("hotline_sip_log_lines_suppressed_total",
		"SIP transport log lines dropped by the log rate limit.", nil, nil)
	descTCPClosed = prometheus.NewDesc("hotline_sip_tcp_closed_total",
		"TCP connections refused or closed by the edge, by reason (per_source_cap; read_timeout: a message not arriving whole, or a write the peer did not take; idle).", []string{"reason"}, nil)
	descAuth = prometheus.NewDesc("hotline_sip_auth_total",
		"Registrar digest checks by result (ok, failed, locked_out, replay, no_qop).", []string{"result"}, nil)
	descLockouts = prometheus.NewDesc("hotline_sip_lockouts_total",
		"Registrar lock-outs started after repeated failures.", nil, nil)
	descOverload = prometheus.NewDesc("hotline_sip_overload_refused_total",
		"INVITEs refused with 503 and Retry-After by the overload controls, by reason (calls_per_source, invites_per_second, draining).", []string{"reason"}, nil)
	descTrunkUp = prometheus.NewDesc("hotline_trunk_up",
		"1 while the trunk is usable for outbound calls (qualify answered, registration held when it registers), else 0.", []string{"trunk"}, nil)
	descTrunkRegistered = prometheus.NewDesc("hotline_trunk_registered",
		"1 while the trunk holds a registration with the carrier, else 0 (always 0 without register: true).", []string{"trunk"}, nil)
)

type sipCollector struct{ s sipStats }

func (c *sipCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRefusedInvites, descParseErrors, descBadRequests, descLogsSuppressed, descTCPClosed, descAuth, descLockouts, descOverload, descTrunkUp, descTrunkRegistered} {
		ch <- d
	}
}

func (c *sipCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descRefusedInvites, c.s.RefusedInvites())
	es := c.s.EdgeStats()
	counter(descParseErrors, es.ParseErrors)
	counter(descBadRequests, es.BadRequests)
	counter(descLogsSuppressed, es.LogsSuppressed)
	counter(descTCPClosed, es.TCPRefused, "per_source_cap")
	counter(descTCPClosed, es.TCPTimedOut, "read_timeout")
	counter(descTCPClosed, es.TCPIdleClosed, "idle")
	as := c.s.AuthStats()
	counter(descAuth, as.Successes, "ok")
	counter(descAuth, as.Failures, "failed")
	counter(descAuth, as.LockedOut, "locked_out")
	counter(descAuth, as.Replays, "replay")
	counter(descAuth, as.NoQOP, "no_qop")
	counter(descLockouts, as.Lockouts)
	ls := c.s.LimitStats()
	counter(descOverload, ls.RefusedCalls, "calls_per_source")
	counter(descOverload, ls.RefusedRate, "invites_per_second")
	counter(descOverload, ls.RefusedDraining, "draining")
	gauge := func(d *prometheus.Desc, on bool, trunk string) {
		v := 0.0
		if on {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, trunk)
	}
	for _, t := range c.s.Trunks() {
		gauge(descTrunkUp, t.Up, t.Name)
		gauge(descTrunkRegistered, t.Registered, t.Name)
	}
}
