package media

import (
	"math"
	"math/cmplx"
	"time"
)

// In-band DTMF detection (ITU-T Q.23/Q.24 tone pairs) on 8 kHz linear PCM.
//
// The receiver limits are the published ones (AT&T/Bellcore, see
// TELEPHONY.md): accept within ±1.5 % of nominal frequency and reject beyond
// ±3.5 %, accept tones of 40 ms and more and reject 23 ms and less, bridge
// gaps up to 10 ms, accept normal twist (high group weaker) up to 8 dB and
// reverse twist up to 4 dB, detect at 15 dB signal-to-noise ratio, over a
// dynamic range of at least 26 dB. The design, written here from those
// figures:
//
//   - Goertzel filters at the eight nominal frequencies run on half-blocks of
//     51 samples. Two adjacent half-blocks combine exactly (coherently) into
//     the 102-sample block (12.75 ms, 78 Hz resolution) that separates
//     neighbouring DTMF frequencies, so a 102-sample window is analysed every
//     51 samples (6.375 ms) for the cost of one Goertzel pass. Half-blocks
//     with too little energy to hold a tone pair skip the filters.
//   - Each window passes a cheap screen: one tone per group above the level
//     floor (−36 dBm0), 6 dB stronger than the others of its group, within
//     loose twist limits, the pair holding 55 % of the window's power (dial
//     tone underneath at −13 dBm0 per tone leaves a −7 dBm0 pair 80 %).
//     Consecutive screened windows of one key form a candidate.
//   - Frequency: the phase advance of each tone between the half-blocks of a
//     window (unambiguous to ±78 Hz) and between windows 102 samples apart
//     (precise, ambiguous beyond ±39 Hz) measures its offset from nominal to
//     about a hertz, and its stability; the offset must be within ±2 %: the
//     accept band with room for the measurement, the rest of the way to
//     3.5 % left to reject voices. A 102-sample DFT alone cannot tell 1.5 %
//     from 3.5 %: at 697 Hz they differ by 1.2 dB of response.
//   - A fully covered window of the candidate is then checked in detail: the
//     two tones are measured with a Hann window at their measured
//     frequencies (no offset loss, −40 dB leakage between the groups) for the
//     precise twist, subtracted from the signal, and what is left is the
//     noise: its power above 600 Hz (so dial tone and hum underneath do not
//     count) must be 10 dB below the pair (the talk-off guard "the two tones
//     hold most of the energy"), and its power at two and three times each
//     tone's frequency (below 3.8 kHz) must be 15 dB below that tone (weak
//     harmonics: voices and instruments are rich in them, square-wave-like
//     sounds in odd ones only). Measuring the harmonics on the residual
//     keeps the low tone's second harmonic apart from the high tone 58-93 Hz
//     away (keys 2, 3, 6, B, C), which no 12.75 ms window can resolve.
//     Last, a guard against a voice whose pitch puts two of its harmonics on
//     a key (the talk-off that remains; high voices on '*' above all): the
//     high tone must not be the low one's second harmonic, and the harmonic
//     series the pair would belong to must be missing from the residual,
//     18 dB down, at the tones' spacing below and above the pair and at
//     half of it between them (above 600 Hz).
//   - Duration: each window's pair amplitude relative to the candidate's
//     strongest is the fraction of that window the tone covers, so the sum
//     over windows 51 samples apart measures the tone's duration whatever its
//     alignment with the blocks (a rectangular envelope sampled at half the
//     window length sums exactly). A candidate is confirmed, and reported at
//     once (key-down), when it has passed the detailed check and lasted
//     28 ms: a 23 ms tone cannot get there and a 40 ms one always does.
//   - A key ends after five windows (32 ms) without it. A gap of 10 ms
//     costs at most three windows (those it leaves less than about 80 %
//     covered), so it is bridged; a pause of 40 ms costs at least seven, so
//     it ends the key and the next press of the same key is reported again.

// Detector geometry and limits.
const (
	inbandHalf   = 51                    // samples per half-block: the analysis hop, 6.375 ms
	inbandWindow = 2 * inbandHalf        // samples per analysis window: 12.75 ms
	inbandTones  = 8                     // four low-group and four high-group frequencies
	toneOffsetOK = 0.02                  // largest relative frequency offset accepted
	minDurSample = 28 * ClockRate / 1000 // shortest tone confirmed: 28 ms
	endMisses    = 5                     // windows without the key that end it: 32 ms
	pendingKeys  = 8                     // keys confirmed but not yet returned
	lowBins      = 8                     // DFT bins of a window below 600 Hz
	inbandChecks = 16                    // frequencies measured on the residual: lowBins, 4 harmonics, 3 series, 1 spare
	// maxHarmonicOmega bounds the harmonics checked: 3.8 kHz, below the
	// Hann window's reach of the Nyquist frequency.
	maxHarmonicOmega = 2 * math.Pi * 3800 / ClockRate
	// minSeriesOmega bounds the harmonic series checked from below: 600 Hz,
	// like the noise measure, above dial tone.
	minSeriesOmega = 2 * math.Pi * 600 / ClockRate
)

// Levels. A 0 dBm0 sine has a peak of about 22650 in 16-bit linear PCM: the
// G.711 µ-law digital milliwatt decodes to ±8828, ±20860 (ITU-T G.711,
// full scale is +3.17 dBm0).
const (
	zeroDBm0Peak  = 22650.0
	zeroDBm0Power = zeroDBm0Peak * zeroDBm0Peak / 2
)

// Thresholds, as power ratios (10^(dB/10)).
const (
	minTonePower    = zeroDBm0Power * 2.5118864315095823e-4 // −36 dBm0
	normalTwist     = 7.0794578438413795                    // 8.5 dB: 8 dB and a 0.5 dB measurement allowance
	reverseTwist    = 2.8183829312644537                    // 4.5 dB: 4 dB and the same allowance
	screenNormal    = 25.118864315095795                    // 14 dB: loose twist limits of the screen
	screenReverse   = 10.0                                  // 10 dB
	screenDominant  = 3.9810717055349722                    // 6 dB over the next strongest tone of the group
	screenShare     = 0.55                                  // of the window's power held by the pair
	minPairSNR      = 10.0                                  // 10 dB: pair over residual above 600 Hz
	maxHarmonic     = 0.03162277660168379                   // −15 dB: second or third harmonic over its tone
	maxSeries       = 0.015848931924611134                  // −18 dB: residual at a harmonic series' next member over the mean tone
	maxSeriesOffset = 0.008                                 // relative distance below which the high tone is the low one's harmonic
	minCoherence    = 0.9                                   // phase stability of each tone
	fullCoverage    = 0.8                                   // amplitude ratio of a window the tone covers
)

// DTMF frequencies in Hz, ITU-T Q.23: rows (low group) then columns (high
// group). Key k is dtmfKeys[row*4+column].
var dtmfFreqs = [inbandTones]float64{697, 770, 852, 941, 1209, 1336, 1477, 1633}

const dtmfKeys = "123A456B789C*0#D"

// DTMFFrequencies returns the low- and high-group frequencies of key ('0'-'9',
// '*', '#', 'A'-'D', also lower case), ITU-T Q.23.
func DTMFFrequencies(key byte) (low, high float64, ok bool) {
	if key >= 'a' && key <= 'd' {
		key -= 'a' - 'A'
	}
	for i := range len(dtmfKeys) {
		if dtmfKeys[i] == key {
			return dtmfFreqs[i/4], dtmfFreqs[4+i%4], true
		}
	}
	return 0, 0, false
}

// inbandTables are the detector's constants, computed once.
type inbandTables struct {
	coef     [inbandTones]float32    // Goertzel 2cos(ω)
	cosw     [inbandTones]float32    // cos(ω)
	sinw     [inbandTones]float32    // sin(ω)
	rot      [inbandTones]complex64  // e^{-jω(half-1)}: Goertzel output to DFT
	join     [inbandTones]complex64  // e^{-jω·half}: second half into the window
	adv1     [inbandTones]complex128 // e^{-jω·half}: nominal phase advance, conjugated
	adv2     [inbandTones]complex128 // e^{-jω·window}
	hann     [inbandWindow]float64
	hannSum  float64 // Σw
	hannSum2 float64 // Σw²
}

var inbandTab = newInbandTables()

func newInbandTables() *inbandTables {
	t := &inbandTables{}
	for i, f := range dtmfFreqs {
		w := 2 * math.Pi * f / ClockRate
		t.coef[i] = float32(2 * math.Cos(w))
		t.cosw[i] = float32(math.Cos(w))
		t.sinw[i] = float32(math.Sin(w))
		t.rot[i] = complex64(cmplx.Rect(1, -w*(inbandHalf-1)))
		t.join[i] = complex64(cmplx.Rect(1, -w*inbandHalf))
		t.adv1[i] = cmplx.Rect(1, -w*inbandHalf)
		t.adv2[i] = cmplx.Rect(1, -w*inbandWindow)
	}
	for n := range inbandWindow {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*(float64(n)+0.5)/inbandWindow)
		t.hann[n] = w
		t.hannSum += w
		t.hannSum2 += w * w
	}
	return t
}

// rejectReason says why a candidate tone was not reported.
type rejectReason uint8

const (
	reasonNone rejectReason = iota
	reasonTwist
	reasonEnergy
	reasonHarmonic
	reasonFrequency
	reasonDuration
)

// InbandStats are an InbandDetector's counters. A candidate is a tone pair
// that passed the per-window screen in at least two windows; each candidate
// that was not reported is counted once, under the last reason it failed.
type InbandStats struct {
	Detected         uint64 // key presses reported
	TwistRejects     uint64 // level difference between the groups beyond 8 dB (high weaker) or 4 dB (high stronger)
	EnergyRejects    uint64 // the pair held too little of the signal: SNR below 10 dB above 600 Hz
	HarmonicRejects  uint64 // harmonics of the tones, or the pair part of a harmonic series (speech, music)
	FrequencyRejects uint64 // a tone more than 2 % off nominal, or unstable in phase
	DurationRejects  uint64 // shorter than the 28 ms confirmation time
}

func (s *InbandStats) count(r rejectReason) {
	switch r {
	case reasonNone, reasonDuration:
		s.DurationRejects++
	case reasonTwist:
		s.TwistRejects++
	case reasonEnergy:
		s.EnergyRejects++
	case reasonHarmonic:
		s.HarmonicRejects++
	case reasonFrequency:
		s.FrequencyRejects++
	}
}

// candidate is a run of windows holding one key.
type candidate struct {
	key        byte // 0: none
	lo, hi     int  // tone indexes into dtmfFreqs
	hits       int
	misses     int
	sumAmp     float32 // Σ pair amplitude over hit windows
	maxAmp     float32
	coarse     [2]complex128 // Σ X(half i)·conj(X(half i-1)) per tone, fading
	fine       [2]complex128 // Σ X(window i)·conj(X(window i-2)) per tone, fading
	fineAbs    [2]float64    // Σ |X(window i)·conj(X(window i-2))|, fading
	validated  bool
	reported   bool
	lastReason rejectReason
}

// pendingKey is a confirmed key waiting to be returned by Process.
type pendingKey struct {
	key   byte
	onset uint64 // estimated sample position where the tone began
}

// InbandDetector finds DTMF key presses in 8 kHz linear PCM (see the
// comment at the top of inband.go for the method). It is a pure state
// machine: no clock, no goroutine, no allocation after NewInbandDetector.
// It is not safe for concurrent use. The zero value is ready to use.
type InbandDetector struct {
	// the half-block being filled
	buf    [2][inbandHalf]float32 // the current and the previous half-block
	cur    int                    // index of the current half in buf
	n      int                    // samples in the current half
	energy float32                // Σx² of the current half

	prevX      [inbandTones]complex64    // DFT of the previous half-block
	prevEnergy float32                   // Σx² of the previous half-block
	winX       [3][inbandTones]complex64 // DFT of the last three windows
	winKey     [3]byte                   // key screened in each of them, 0 if none
	winAmp     [3]float32                // and the amplitude of its pair
	windows    uint64                    // windows analysed
	pos        uint64                    // samples processed

	cand, next candidate // the current key, and one starting while it ends
	scratch    [inbandWindow]float64

	pending   [pendingKeys]pendingKey
	pHead     int
	pLen      int
	lastDelay time.Duration
	stats     InbandStats
}

// NewInbandDetector returns a detector with its state cleared.
func NewInbandDetector() *InbandDetector {
	return &InbandDetector{}
}

// Reset clears the signal state, keeping the counters: use it when the
// audio stream is discontinued (a new source, a codec change).
func (d *InbandDetector) Reset() {
	st := d.stats
	*d = InbandDetector{stats: st}
}

// Stats returns a copy of the counters.
func (d *InbandDetector) Stats() InbandStats { return d.stats }

// Delay returns, for the key last returned by Process, how long its tone
// had been playing at the end of the samples passed to that call: an
// estimate of the detection latency from the tone's start.
func (d *InbandDetector) Delay() time.Duration { return d.lastDelay }

// Process feeds any number of samples of 8 kHz mono linear PCM and returns
// a key once per press, as soon as the press is confirmed (key-down), not
// when it ends. Typically it is called with each 20 ms frame (160 samples);
// a press is confirmed 30-40 ms after its tone starts, and returned at the
// end of that frame. Should one call confirm more than one press (long
// slices), the others, up to eight, are returned by the following calls;
// Process(nil) returns them without feeding samples. It does not allocate.
func (d *InbandDetector) Process(pcm []int16) (key byte, ok bool) {
	for len(pcm) > 0 {
		k := min(inbandHalf-d.n, len(pcm))
		h := &d.buf[d.cur]
		e := d.energy
		for i, v := range pcm[:k] {
			x := float32(v)
			h[d.n+i] = x
			e += x * x
		}
		d.energy = e
		d.n += k
		d.pos += uint64(k)
		pcm = pcm[k:]
		if d.n == inbandHalf {
			d.endHalf()
		}
	}
	if d.pLen == 0 {
		return 0, false
	}
	p := d.pending[d.pHead]
	d.pHead = (d.pHead + 1) % pendingKeys
	d.pLen--
	d.lastDelay = time.Duration(d.pos-p.onset) * (time.Second / ClockRate)
	return p.key, true
}

// endHalf runs the Goertzel filters over a completed half-block and
// analyses the window it closes.
func (d *InbandDetector) endHalf() {
	t := inbandTab
	var x [inbandTones]complex64
	// A half-block that cannot hold even one tone at the floor skips the
	// filters: its DFT is left at zero.
	if float64(d.energy) >= minTonePower*inbandHalf {
		goertzel(&d.buf[d.cur], &x)
	}
	e := d.prevEnergy + d.energy

	w := d.windows % 3
	win := &d.winX[w]
	for i := range x {
		win[i] = d.prevX[i] + t.join[i]*x[i]
	}
	key, lo, hi, amp := d.screen(win, e)
	d.winKey[w], d.winAmp[w] = key, amp
	if key != 0 {
		d.hit(key, lo, hi, amp, &x)
	} else {
		d.miss()
	}

	d.prevX = x
	d.prevEnergy = d.energy
	d.energy = 0
	d.n = 0
	d.cur ^= 1
	d.windows++
}

// goertzel computes the DFT of one half-block at the eight DTMF
// frequencies. Two samples per iteration let the filter states trade
// places without register moves.
func goertzel(h *[inbandHalf]float32, out *[inbandTones]complex64) {
	t := inbandTab
	c0, c1, c2, c3 := t.coef[0], t.coef[1], t.coef[2], t.coef[3]
	c4, c5, c6, c7 := t.coef[4], t.coef[5], t.coef[6], t.coef[7]
	var a0, a1, a2, a3, a4, a5, a6, a7 float32 // s[n-1]
	var b0, b1, b2, b3, b4, b5, b6, b7 float32 // s[n-2]
	for i := 0; i+1 < inbandHalf; i += 2 {
		x, y := h[i], h[i+1]
		b0 = x + c0*a0 - b0
		b1 = x + c1*a1 - b1
		b2 = x + c2*a2 - b2
		b3 = x + c3*a3 - b3
		b4 = x + c4*a4 - b4
		b5 = x + c5*a5 - b5
		b6 = x + c6*a6 - b6
		b7 = x + c7*a7 - b7
		a0 = y + c0*b0 - a0
		a1 = y + c1*b1 - a1
		a2 = y + c2*b2 - a2
		a3 = y + c3*b3 - a3
		a4 = y + c4*b4 - a4
		a5 = y + c5*b5 - a5
		a6 = y + c6*b6 - a6
		a7 = y + c7*b7 - a7
	}
	// inbandHalf is odd: one more sample.
	x := h[inbandHalf-1]
	a0, b0 = x+c0*a0-b0, a0
	a1, b1 = x+c1*a1-b1, a1
	a2, b2 = x+c2*a2-b2, a2
	a3, b3 = x+c3*a3-b3, a3
	a4, b4 = x+c4*a4-b4, a4
	a5, b5 = x+c5*a5-b5, a5
	a6, b6 = x+c6*a6-b6, a6
	a7, b7 = x+c7*a7-b7, a7
	s1 := [inbandTones]float32{a0, a1, a2, a3, a4, a5, a6, a7}
	s2 := [inbandTones]float32{b0, b1, b2, b3, b4, b5, b6, b7}
	// y = s[N-1] - e^{-jω}s[N-2] = e^{jω(N-1)}·X(ω).
	for i := range out {
		out[i] = t.rot[i] * complex(s1[i]-t.cosw[i]*s2[i], t.sinw[i]*s2[i])
	}
}

// screen is the cheap per-window test. It returns the key whose tones
// dominate the window, their indexes and the pair's amplitude, or key 0.
func (d *InbandDetector) screen(win *[inbandTones]complex64, energy float32) (key byte, lo, hi int, amp float32) {
	var p [inbandTones]float32
	for i, x := range win {
		p[i] = real(x)*real(x) + imag(x)*imag(x)
	}
	lo, lo2 := best(p[0:4])
	hi, hi2 := best(p[4:8])
	hi += 4
	// Tone power A²/2 is 2|X|²/N².
	const norm = 2.0 / (inbandWindow * inbandWindow)
	pl, ph := p[lo]*norm, p[hi]*norm
	switch {
	case float64(pl) < minTonePower || float64(ph) < minTonePower:
		return 0, 0, 0, 0
	case float64(ph) > float64(pl)*screenReverse || float64(pl) > float64(ph)*screenNormal:
		return 0, 0, 0, 0
	case float64(p[lo]) < float64(lo2)*screenDominant || float64(p[hi]) < float64(hi2)*screenDominant:
		return 0, 0, 0, 0
	case float64(pl+ph) < screenShare*float64(energy)/inbandWindow:
		return 0, 0, 0, 0
	}
	return dtmfKeys[lo*4+hi-4], lo, hi, float32(math.Sqrt(float64(pl + ph)))
}

// best returns the index of the largest of four powers and the second
// largest power.
func best(p []float32) (int, float32) {
	i, second := 0, float32(0)
	for j := 1; j < len(p); j++ {
		if p[j] > p[i] {
			second, i = p[i], j
		} else if p[j] > second {
			second = p[j]
		}
	}
	return i, second
}

// hit records a screened window of key.
func (d *InbandDetector) hit(key byte, lo, hi int, amp float32, x *[inbandTones]complex64) {
	c := &d.cand
	switch {
	case c.key == key:
		d.next = candidate{}
	case c.key != 0 && c.reported:
		// Another key while a reported one ends: a miss for the reported
		// key, and perhaps the start of the next.
		d.missCand(c)
		if c.key != 0 {
			c = &d.next
			if c.key != key {
				d.start(c, key, lo, hi)
			}
		} else if d.next.key == key {
			d.cand, d.next = d.next, candidate{}
		} else {
			d.next = candidate{}
			d.start(c, key, lo, hi)
		}
	default:
		d.end(c)
		d.start(c, key, lo, hi)
	}
	d.extend(c, amp, x)
}

// start makes c a new candidate for key. The window before, which the
// screen rejected, may hold the start of the tone: its share counts towards
// the duration (the screen rejects windows the tone covers by less than
// about 80 %, as the partial tone's spectrum widens).
func (d *InbandDetector) start(c *candidate, key byte, lo, hi int) {
	*c = candidate{key: key, lo: lo, hi: hi}
	if w := d.windows; w > 0 && d.winKey[(w-1)%3] == 0 {
		x := &d.winX[(w-1)%3]
		const norm = 2.0 / (inbandWindow * inbandWindow)
		pl := real(x[lo])*real(x[lo]) + imag(x[lo])*imag(x[lo])
		ph := real(x[hi])*real(x[hi]) + imag(x[hi])*imag(x[hi])
		c.sumAmp = float32(math.Sqrt(float64((pl + ph) * norm)))
	}
}

// extend adds the current window, a hit, to c and confirms c when it
// qualifies.
func (d *InbandDetector) extend(c *candidate, amp float32, x *[inbandTones]complex64) {
	w := d.windows
	c.hits++
	c.misses = 0
	c.maxAmp = max(c.maxAmp, amp)
	if c.hits == 1 {
		c.sumAmp = min(c.sumAmp, amp) // the window before: at most a full one
	}
	c.sumAmp += amp
	tones := [2]int{c.lo, c.hi}
	// Phase advances, from windows the tone covers (in a partly covered
	// window the phase is that of the covered part's middle, which biases
	// the advance), older ones fading out (weight halved per window) so
	// that a discontinuity (a gap, the previous key) is forgotten.
	full := amp >= fullCoverage*c.maxAmp
	if full {
		for j, i := range tones {
			c.coarse[j] = c.coarse[j]/2 + complex128(x[i]*conj64(d.prevX[i]))
		}
	}
	if full && w >= 2 && d.winKey[(w-2)%3] == c.key && d.winAmp[(w-2)%3] >= fullCoverage*c.maxAmp {
		for j, i := range tones {
			p := complex128(d.winX[w%3][i] * conj64(d.winX[(w-2)%3][i]))
			c.fine[j] = c.fine[j]/2 + p
			c.fineAbs[j] = c.fineAbs[j]/2 + cmplx.Abs(p)
		}
	}
	if c.reported || c != &d.cand {
		return
	}
	if !c.validated && full && c.fineAbs[0] > 0 {
		c.lastReason = d.validate(c)
		c.validated = c.lastReason == reasonNone
	}
	dur := inbandHalf * c.sumAmp / c.maxAmp // samples
	if c.validated && dur >= minDurSample {
		c.reported = true
		d.stats.Detected++
		// The tone began about half a window before the duration
		// measured so far.
		onset := d.pos - min(d.pos, uint64(dur)+inbandHalf)
		if d.pLen < pendingKeys {
			d.pending[(d.pHead+d.pLen)%pendingKeys] = pendingKey{key: c.key, onset: onset}
			d.pLen++
		}
	}
}

func conj64(x complex64) complex64 { return complex(real(x), -imag(x)) }

// miss records a window without a screened key.
func (d *InbandDetector) miss() {
	if d.next.key != 0 {
		d.missCand(&d.next)
	}
	if d.cand.key == 0 {
		return
	}
	d.missCand(&d.cand)
	if d.cand.key == 0 && d.next.key != 0 {
		d.cand, d.next = d.next, candidate{}
	}
}

// missCand counts a miss for c and ends it after endMisses.
func (d *InbandDetector) missCand(c *candidate) {
	if c.misses++; c.misses >= endMisses {
		d.end(c)
	}
}

// end closes candidate c, counting why it was never reported.
func (d *InbandDetector) end(c *candidate) {
	if c.key != 0 && !c.reported && c.hits >= 2 {
		d.stats.count(c.lastReason)
	}
	*c = candidate{}
}

// validate is the detailed check of candidate c on the current window. It
// returns reasonNone when c is a DTMF tone pair.
func (d *InbandDetector) validate(c *candidate) rejectReason {
	t := inbandTab
	tones := [2]int{c.lo, c.hi}
	var omega [2]float64
	for j, i := range tones {
		if cmplx.Abs(c.fine[j]) < minCoherence*c.fineAbs[j] {
			return reasonFrequency
		}
		// Offset from the phase advance over a half-block (±78 Hz) and
		// over a window (±39 Hz, precise): take the precise value in the
		// period the coarse one points at.
		coarse := cmplx.Phase(c.coarse[j]*t.adv1[i]) * ClockRate / (2 * math.Pi * inbandHalf)
		fine := cmplx.Phase(c.fine[j]*t.adv2[i]) * ClockRate / (2 * math.Pi * inbandWindow)
		const period = float64(ClockRate) / inbandWindow
		df := fine + period*math.Round((coarse-fine)/period)
		if math.Abs(df) > toneOffsetOK*dtmfFreqs[i] {
			return reasonFrequency
		}
		omega[j] = 2 * math.Pi * (dtmfFreqs[i] + df) / ClockRate
	}

	// The window in time order.
	x := &d.scratch
	prev, cur := &d.buf[d.cur^1], &d.buf[d.cur]
	for n := range inbandHalf {
		x[n] = float64(prev[n])
		x[inbandHalf+n] = float64(cur[n])
	}
	// Each tone's amplitude and phase, Hann window, at its frequency.
	var amp, phase, power [2]float64
	for j := range tones {
		z := hannDFT(x, omega[j])
		amp[j] = 2 * cmplx.Abs(z) / t.hannSum
		phase[j] = cmplx.Phase(z)
		power[j] = amp[j] * amp[j] / 2
	}
	if power[1] > power[0]*reverseTwist || power[0] > power[1]*normalTwist {
		return reasonTwist
	}
	// The residual: the window without the pair, Hann-windowed.
	for j := range tones {
		z := cmplx.Rect(amp[j], phase[j])
		step := cmplx.Rect(1, omega[j])
		for n := range x {
			x[n] -= real(z)
			z *= step
		}
	}
	var total float64
	for n, v := range x {
		x[n] = t.hann[n] * v
		total += x[n] * x[n]
	}
	// Powers of the residual: the bins below 600 Hz (k = 0..7, 78 Hz
	// apart), the tones' second and third harmonics, and the harmonic
	// series around the pair: at the tones' spacing below and above, and
	// half of it between (a voice whose pitch puts two of its harmonics on
	// the pair).
	var freqs, pw [inbandChecks]float64
	for k := range lowBins {
		freqs[k] = 2 * math.Pi * float64(k) / inbandWindow
	}
	g := omega[1] - omega[0]
	checks := [...]float64{2 * omega[0], 3 * omega[0], 2 * omega[1], 3 * omega[1], omega[0] - g, omega[1] + g, omega[0] + g/2}
	copy(freqs[lowBins:], checks[:])
	goertzelPowers(x, &freqs, &pw)

	low := pw[0]
	for k := 1; k < lowBins; k++ {
		low += 2 * pw[k]
	}
	band := max(total-low/inbandWindow, 0) / t.hannSum2
	if power[0]+power[1] < minPairSNR*band {
		return reasonEnergy
	}
	// |X|² to the power of a sine, A²/2.
	norm := 2 / (t.hannSum * t.hannSum)
	h := pw[lowBins:]
	for i, f := range checks[:4] {
		if f < maxHarmonicOmega && h[i]*norm > maxHarmonic*power[i/2] {
			return reasonHarmonic
		}
	}
	// The high tone is the low one's second harmonic (nominally 4.2 % away
	// at best, keys 2, 6, C), or the harmonic series goes on.
	if math.Abs(g-omega[0]) < maxSeriesOffset*omega[1] {
		return reasonHarmonic
	}
	mean := (power[0] + power[1]) / 2
	for i, f := range checks[4:] {
		if f > minSeriesOmega && f < maxHarmonicOmega && h[4+i]*norm > maxSeries*mean {
			return reasonHarmonic
		}
	}
	return reasonNone
}

// goertzelPowers sets pw[i] to |X(freqs[i])|², the DFT of the window y
// at angular frequency freqs[i], four frequencies per pass over y.
func goertzelPowers(y *[inbandWindow]float64, freqs, pw *[inbandChecks]float64) {
	for i := 0; i < inbandChecks; i += 4 {
		c0, c1, c2, c3 := 2*math.Cos(freqs[i]), 2*math.Cos(freqs[i+1]), 2*math.Cos(freqs[i+2]), 2*math.Cos(freqs[i+3])
		var a0, a1, a2, a3, b0, b1, b2, b3 float64
		for _, v := range y {
			a0, b0 = v+c0*a0-b0, a0
			a1, b1 = v+c1*a1-b1, a1
			a2, b2 = v+c2*a2-b2, a2
			a3, b3 = v+c3*a3-b3, a3
		}
		pw[i] = a0*a0 + b0*b0 - c0*a0*b0
		pw[i+1] = a1*a1 + b1*b1 - c1*a1*b1
		pw[i+2] = a2*a2 + b2*b2 - c2*a2*b2
		pw[i+3] = a3*a3 + b3*b3 - c3*a3*b3
	}
}

// hannDFT returns Σ w[n]x[n]e^{-jωn} over the window, w the Hann window.
func hannDFT(x *[inbandWindow]float64, omega float64) complex128 {
	t := inbandTab
	c := 2 * math.Cos(omega)
	var s1, s2 float64
	for n, v := range x {
		s1, s2 = t.hann[n]*v+c*s1-s2, s1
	}
	y := complex(s1-math.Cos(omega)*s2, math.Sin(omega)*s2)
	return y * cmplx.Rect(1, -omega*(inbandWindow-1))
}
