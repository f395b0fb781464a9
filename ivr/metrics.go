package ivr

import (
	"github.com/hotline-ivr/hotline/media"
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
	digitsDropped prometheus.Counter
	rfcTimeouts   prometheus.Counter
	inbandRejects *prometheus.CounterVec
	infoRejected  prometheus.Counter
	reloads       *prometheus.CounterVec
	freezes       *prometheus.CounterVec
	callbacks     *prometheus.CounterVec
	queueWaiting  *prometheus.GaugeVec
	queueAgents   *prometheus.GaugeVec
	queueWait     *prometheus.HistogramVec
	webhooks      *prometheus.CounterVec
	freezeRecord  prometheus.Histogram
	freezeConfirm prometheus.Histogram
	rtpForeign    prometheus.Counter
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
			Help: "Finished calls by direction (inbound, outbound), kind (caller, callback) and outcome.",
		}, []string{"direction", "kind", "outcome"}),
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
		rtpForeign: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_rtp_foreign_packets_total",
			Help: "RTP packets dropped because they came from an address the call does not accept (neither the SDP's address nor the signalling's).",
		}),
		digitsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_dtmf_dropped_total",
			Help: "Key presses dropped because the call was not reading them fast enough.",
		}),
		rfcTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_dtmf_rfc4733_timeouts_total",
			Help: "RFC 4733 events ended by timeout: their end packets never came.",
		}),
		inbandRejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_dtmf_inband_rejects_total",
			Help: "Tone candidates the in-band detector refused, by reason (twist, energy, harmonic, frequency, duration).",
		}, []string{"reason"}),
		infoRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_sip_info_rejected_total",
			Help: "SIP INFO requests answered 415: a body that is not a key press.",
		}),
		queueWaiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hotline_queue_waiting",
			Help: "Callers waiting in a queue: on the line, or as callbacks holding their place.",
		}, []string{"queue", "kind"}),
		queueAgents: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hotline_queue_agents",
			Help: "Agents of a queue by state.",
		}, []string{"queue", "state"}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hotline_queue_wait_seconds",
			Help:    "How long callers waited on the line, by how the wait ended (answered, callback, abandoned, freeze).",
			Buckets: []float64{5, 15, 30, 60, 120, 300, 600, 1200},
		}, []string{"queue", "outcome"}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_callbacks_total",
			Help: "Callbacks: stored, then attempts by outcome (answered, no-answer, busy, error) and failed (attempts used up).",
		}, []string{"outcome"}),
		freezes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_freeze_attempts_total",
			Help: "Freeze lane attempts by outcome (frozen, duplicate, refused) and refusal reason.",
		}, []string{"outcome", "reason"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_freeze_webhooks_total",
			Help: "Freeze webhook delivery attempts by outcome (delivered, retry).",
		}, []string{"outcome"}),
		freezeRecord: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hotline_freeze_record_seconds",
			Help:    "From the freeze key press to the freeze committed to the store.",
			Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .2, .5, 1},
		}),
		freezeConfirm: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hotline_freeze_confirm_seconds",
			Help:    "From the freeze key press to the start of the confirmation audio.",
			Buckets: []float64{.01, .02, .05, .1, .2, .3, .5, 1, 2},
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_menu_reloads_total",
			Help: "Config reloads by result (ok, refused).",
		}, []string{"result"}),
	}
	m.reg.MustRegister(m.callsActive, m.callsTotal, m.digits, m.duplicates, m.digitsIgnored, m.digitsDropped, m.rfcTimeouts, m.inbandRejects, m.infoRejected, m.reloads, m.callbacks, m.queueWaiting, m.queueAgents, m.queueWait, m.freezes, m.webhooks, m.freezeRecord, m.freezeConfirm, m.rtpForeign,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// addSession folds a finished call's media counters into the metrics.
func (m *metrics) addSession(st media.SessionStats) {
	m.digitsDropped.Add(float64(st.DigitsDropped))
	m.rtpForeign.Add(float64(st.PacketsForeign))
	m.rfcTimeouts.Add(float64(st.DTMFTimeouts))
	for reason, n := range map[string]uint64{
		"twist":     st.Inband.TwistRejects,
		"energy":    st.Inband.EnergyRejects,
		"harmonic":  st.Inband.HarmonicRejects,
		"frequency": st.Inband.FrequencyRejects,
		"duration":  st.Inband.DurationRejects,
	} {
		m.inbandRejects.WithLabelValues(reason).Add(float64(n))
	}
}
