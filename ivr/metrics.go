package ivr

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are per engine, on the engine's own registry (no globals: tests run engines in parallel).
type metrics struct {
	reg           *prometheus.Registry
	callsActive   prometheus.Gauge
	callsTotal    *prometheus.CounterVec
	digits        *prometheus.CounterVec
	duplicates    *prometheus.CounterVec
	digitsIgnored *prometheus.CounterVec
	reloads       *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		callsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotline_calls_active",
			Help: "Calls in progress.",
		}),
		callsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_calls_total",
			Help: "Finished calls by outcome.",
		}, []string{"outcome"}),
		digits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_dtmf_digits_total",
			Help: "Key presses counted, by how they arrived (rfc4733, info, inband) and trunk.",
		}, []string{"mode", "trunk"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_dtmf_duplicates_total",
			Help: "Reports of a key press already counted by another path, suppressed; by the duplicate's path.",
		}, []string{"mode"}),
		digitsIgnored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_dtmf_ignored_total",
			Help: "Key presses on a path the call's DTMF mode does not listen to.",
		}, []string{"mode"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_menu_reloads_total",
			Help: "Config reloads by result (ok, refused).",
		}, []string{"result"}),
	}
	m.reg.MustRegister(m.callsActive, m.callsTotal, m.digits, m.duplicates, m.digitsIgnored, m.reloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
