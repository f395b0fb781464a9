package media

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	update       = flag.Bool("update", false, "rewrite testdata/talkoff/RESULTS.md (conformance, talk-off, latency, cost)")
	talkoffLarge = flag.String("talkoff-large", "", "directory of a large talk-off corpus (testdata/talkoff/gen.sh large DIR) for TestInband_TalkOff to run besides the committed corpus")
)

const (
	talkoffDir  = "../testdata/talkoff"
	resultsFile = "../testdata/talkoff/RESULTS.md"
)

// ms is a duration in milliseconds.
func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

// samples is the number of samples in d.
func samples(d time.Duration) int { return int(d / (time.Second / ClockRate)) }

// tone describes one generated tone pair relative to a key's nominal
// frequencies.
type tone struct {
	dur            time.Duration
	offLo, offHi   float64 // relative frequency offsets
	levLo, levHi   float64 // dBm0 per frequency
	gapAfter       time.Duration
	freqLo, freqHi float64 // absolute frequencies, replacing the key's
}

// pressTone is a key press at DefaultToneLevel lasting d.
func pressTone(d time.Duration) tone {
	return tone{dur: d, levLo: DefaultToneLevel, levHi: DefaultToneLevel}
}

// inbandCase is one row of the conformance suite: a signal built for each
// key, and how many presses of that key must be detected.
type inbandCase struct {
	name   string
	tones  []tone
	noise  float64 // SNR in dB of white noise against the first tone pair, 0 for none
	dial   bool    // North American dial tone underneath, 350 + 440 Hz at -13 dBm0 each
	alaw   bool    // through A-law instead of µ-law
	want   int     // presses expected (0: none)
	keys   string  // keys to try, default all 16
	reason string  // for a rejection row: the counter that must count it
}

func conformanceCases() []inbandCase {
	nominal := pressTone(ms(60))
	off := func(lo, hi float64) tone { t := nominal; t.offLo, t.offHi = lo, hi; return t }
	lev := func(lo, hi float64) tone { t := nominal; t.levLo, t.levHi = lo, hi; return t }
	dur := func(d float64) tone { return pressTone(ms(d)) }
	gap := func(t tone, g float64) tone { t.gapAfter = ms(g); return t }
	return []inbandCase{
		{name: "nominal 60 ms, -7 dBm0 per tone", tones: []tone{nominal}, want: 1},
		{name: "A-law path", tones: []tone{nominal}, alaw: true, want: 1},
		{name: "frequency +1.5 % both", tones: []tone{off(0.015, 0.015)}, want: 1},
		{name: "frequency -1.5 % both", tones: []tone{off(-0.015, -0.015)}, want: 1},
		{name: "frequency +1.5 % low, -1.5 % high", tones: []tone{off(0.015, -0.015)}, want: 1},
		{name: "frequency -1.5 % low, +1.5 % high", tones: []tone{off(-0.015, 0.015)}, want: 1},
		{name: "frequency +3.5 % both", tones: []tone{off(0.035, 0.035)}},
		{name: "frequency -3.5 % both", tones: []tone{off(-0.035, -0.035)}},
		{name: "frequency +3.5 % low only", tones: []tone{off(0.035, 0)}},
		{name: "frequency -3.5 % low only", tones: []tone{off(-0.035, 0)}},
		{name: "frequency +3.5 % high only", tones: []tone{off(0, 0.035)}},
		{name: "frequency -3.5 % high only", tones: []tone{off(0, -0.035)}},
		{name: "normal twist 8 dB (high -15 dBm0)", tones: []tone{lev(-7, -15)}, want: 1},
		{name: "normal twist 9 dB", tones: []tone{lev(-7, -16)}, reason: "twist"},
		{name: "reverse twist 4 dB (low -11 dBm0)", tones: []tone{lev(-11, -7)}, want: 1},
		{name: "reverse twist 5 dB", tones: []tone{lev(-12, -7)}, reason: "twist"},
		{name: "duration 40 ms", tones: []tone{dur(40)}, want: 1},
		{name: "duration 23 ms", tones: []tone{dur(23)}, reason: "duration"},
		{name: "duration 20 ms", tones: []tone{dur(20)}, reason: "duration"},
		{name: "duration 2 s (one press)", tones: []tone{dur(2000)}, want: 1, keys: "15#D"},
		{name: "level -3 dBm0 per tone (pair 0 dBm0)", tones: []tone{lev(-3, -3)}, want: 1},
		{name: "level -20 dBm0 per tone", tones: []tone{lev(-20, -20)}, want: 1},
		{name: "level -29 dBm0 per tone (pair -26 dBm0)", tones: []tone{lev(-29, -29)}, want: 1},
		{name: "level -33 dBm0 per tone", tones: []tone{lev(-33, -33)}, want: 1},
		{name: "level -40 dBm0 per tone (below floor)", tones: []tone{lev(-40, -40)}},
		{name: "white noise, SNR 15 dB", tones: []tone{nominal}, noise: 15, want: 1},
		{name: "white noise, SNR 15 dB, 40 ms", tones: []tone{dur(40)}, noise: 15, want: 1},
		{name: "dial tone underneath (-13 dBm0 per tone)", tones: []tone{nominal}, dial: true, want: 1},
		{name: "dial tone alone", tones: []tone{{dur: ms(60), freqLo: 350, freqHi: 440, levLo: -13, levHi: -13}}},
		{name: "gap 10 ms inside a press (bridged)", tones: []tone{gap(dur(40), 10), dur(40)}, want: 1},
		{name: "two presses 40 ms, pause 40 ms", tones: []tone{gap(dur(40), 40), dur(40)}, want: 2},
		{name: "two presses 40 ms, pause 40 ms, noise 15 dB", tones: []tone{gap(dur(40), 40), dur(40)}, noise: 15, want: 2},
	}
}

// trialLead is the silence before the first tone, plus the alignment.
const trialLead = 400

// alignments shift the signal against the 51-sample half-blocks and the
// 160-sample frames.
var alignments = []int{0, 13, 29, 47, 80, 151}

// trial is one generated signal: samples, and where each tone starts.
type trial struct {
	pcm    []int16
	onsets []int
}

// buildTrial generates the signal of case c for key, shifted by align
// samples, passed through G.711 as on the wire.
func buildTrial(c inbandCase, key byte, align int, seed uint64) trial {
	lo, hi, _ := DTMFFrequencies(key)
	pcm := make([]int16, trialLead+align)
	var onsets []int
	first := c.tones[0]
	for _, t := range c.tones {
		onsets = append(onsets, len(pcm))
		fl, fh := lo*(1+t.offLo), hi*(1+t.offHi)
		if t.freqLo != 0 {
			fl, fh = t.freqLo, t.freqHi
		}
		pcm = AppendDualTone(pcm, fl, t.levLo, fh, t.levHi, t.dur)
		pcm = append(pcm, make([]int16, samples(t.gapAfter))...)
	}
	pcm = append(pcm, make([]int16, samples(ms(200)))...)
	sig := make([]float64, len(pcm))
	for i, v := range pcm {
		sig[i] = float64(v)
	}
	if c.dial {
		dial := AppendDualTone(nil, 350, -13, 440, -13, time.Duration(len(pcm))*(time.Second/ClockRate))
		for i := range sig {
			sig[i] += float64(dial[i])
		}
	}
	if c.noise != 0 {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		power := zeroDBm0Power * (math.Pow(10, first.levLo/10) + math.Pow(10, first.levHi/10))
		sigma := math.Sqrt(power / math.Pow(10, c.noise/10))
		for i := range sig {
			sig[i] += rng.NormFloat64() * sigma
		}
	}
	for i, v := range sig {
		pcm[i] = int16(max(min(math.Round(v), math.MaxInt16), math.MinInt16))
	}
	enc := make([]byte, len(pcm))
	if c.alaw {
		EncodePCMATo(enc, pcm)
		DecodePCMATo(pcm, enc)
	} else {
		EncodePCMUTo(enc, pcm)
		DecodePCMUTo(pcm, enc)
	}
	return trial{pcm: pcm, onsets: onsets}
}

// detection is one key returned by the detector.
type detection struct {
	key   byte
	at    int           // sample position at the end of the slice that returned it
	delay time.Duration // the detector's Delay estimate
}

// runDetector feeds pcm in slices of chunk samples and returns the keys.
func runDetector(d *InbandDetector, pcm []int16, chunk int) []detection {
	var out []detection
	for pos := 0; pos < len(pcm); {
		n := min(chunk, len(pcm)-pos)
		pos += n
		for k, ok := d.Process(pcm[pos-n : pos]); ok; k, ok = d.Process(nil) {
			out = append(out, detection{key: k, at: pos, delay: d.Delay()})
		}
	}
	return out
}

// caseResult sums the trials of one conformance case.
type caseResult struct {
	c          inbandCase
	trials     int
	passed     int
	detections int
	stats      InbandStats
	failures   []string
}

// latencies collects detection latencies over the conformance suite.
type latencies struct {
	exact, frame, delayErr []time.Duration
}

func sampleTime(n int) time.Duration { return time.Duration(n) * (time.Second / ClockRate) }

// runCase runs case c for every key and alignment. Each trial runs twice:
// in 20 ms frames, as a Session feeds the detector, and in 51-sample
// slices, which return at the exact window where a press is confirmed. Both
// must find the same keys.
func runCase(c inbandCase, lat *latencies) caseResult {
	keys := c.keys
	if keys == "" {
		keys = dtmfKeys
	}
	r := caseResult{c: c}
	for _, key := range []byte(keys) {
		for ai, align := range alignments {
			tr := buildTrial(c, key, align, uint64(key)<<8|uint64(ai))
			d := NewInbandDetector()
			got := runDetector(d, tr.pcm, FrameSize)
			exact := runDetector(NewInbandDetector(), tr.pcm, inbandHalf)
			st := d.Stats()
			r.stats.add(st)
			r.trials++
			r.detections += len(got)
			var gotKeys []byte
			for _, g := range got {
				gotKeys = append(gotKeys, g.key)
			}
			want := strings.Repeat(string(key), c.want)
			ok := string(gotKeys) == want && len(exact) == len(got)
			if ok && c.reason != "" && st.reason(c.reason) == 0 {
				ok = false
			}
			if !ok {
				r.failures = append(r.failures, fmt.Sprintf("key %c align %d: got %q (exact %d), want %q, stats %+v", key, align, gotKeys, len(exact), want, st))
				continue
			}
			r.passed++
			if lat != nil && len(got) > 0 {
				onset := tr.onsets[0]
				lat.exact = append(lat.exact, sampleTime(exact[0].at-onset))
				lat.frame = append(lat.frame, sampleTime(got[0].at-onset))
				lat.delayErr = append(lat.delayErr, got[0].delay-sampleTime(got[0].at-onset))
			}
		}
	}
	return r
}

func (s *InbandStats) add(o InbandStats) {
	s.Detected += o.Detected
	s.TwistRejects += o.TwistRejects
	s.EnergyRejects += o.EnergyRejects
	s.HarmonicRejects += o.HarmonicRejects
	s.FrequencyRejects += o.FrequencyRejects
	s.DurationRejects += o.DurationRejects
}

// reason returns the counter named by a conformance case.
func (s InbandStats) reason(name string) uint64 {
	switch name {
	case "twist":
		return s.TwistRejects
	case "energy":
		return s.EnergyRejects
	case "harmonic":
		return s.HarmonicRejects
	case "frequency":
		return s.FrequencyRejects
	case "duration":
		return s.DurationRejects
	}
	return 0
}

func (s InbandStats) rejects() string {
	return fmt.Sprintf("twist %d, energy %d, harmonic %d, frequency %d, duration %d",
		s.TwistRejects, s.EnergyRejects, s.HarmonicRejects, s.FrequencyRejects, s.DurationRejects)
}

// TestInband_Conformance runs the receiver limits of TELEPHONY.md on
// generated signals: every key, six alignments, through G.711.
func TestInband_Conformance(t *testing.T) {
	t.Parallel()
	for _, c := range conformanceCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := runCase(c, nil)
			for _, f := range r.failures {
				t.Error(f)
			}
		})
	}
}

// TestInband_Latency checks the latency of the conformance suite: a press
// is confirmed within 45 ms of its tone's start (28 ms of tone, half a
// window, one window step), and Delay estimates the latency to a few ms.
func TestInband_Latency(t *testing.T) {
	t.Parallel()
	var lat latencies
	for _, c := range conformanceCases() {
		if c.want > 0 {
			runCase(c, &lat)
		}
	}
	if len(lat.exact) == 0 {
		t.Fatal("no detections")
	}
	if m := slices.Max(lat.exact); m > ms(45) {
		t.Errorf("max confirmation latency %v, want ≤ 45 ms", m)
	}
	for _, e := range lat.delayErr {
		if e < -ms(8) || e > ms(8) {
			t.Errorf("Delay off by %v", e)
			break
		}
	}
	t.Logf("latency exact: median %v max %v; at 20 ms frames: median %v max %v",
		median(lat.exact), slices.Max(lat.exact), median(lat.frame), slices.Max(lat.frame))
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestInband_KeySequence sends all sixteen keys, 40 ms on, 40 ms off, in
// one stream: each is reported once, in order.
func TestInband_KeySequence(t *testing.T) {
	t.Parallel()
	var pcm []int16
	for _, k := range []byte(dtmfKeys + dtmfKeys) {
		pcm = AppendDTMFTone(pcm, k, ms(40), DefaultToneLevel)
		pcm = append(pcm, make([]int16, samples(ms(40)))...)
	}
	// Up to 8 confirmed keys wait for Process(nil): 0.6 s of them at once.
	for _, chunk := range []int{1, 7, FrameSize, 1000, 4800} {
		got := runDetector(NewInbandDetector(), pcm, chunk)
		var keys []byte
		for _, g := range got {
			keys = append(keys, g.key)
		}
		if string(keys) != dtmfKeys+dtmfKeys {
			t.Errorf("chunk %d: keys %q", chunk, keys)
		}
	}
}

// TestInband_BackToBack: a key followed by another without a pause (not
// within the standard, some phones do it) still reports both.
func TestInband_BackToBack(t *testing.T) {
	t.Parallel()
	pcm := make([]int16, 300)
	pcm = AppendDTMFTone(pcm, '1', ms(80), DefaultToneLevel)
	pcm = AppendDTMFTone(pcm, '9', ms(80), DefaultToneLevel)
	pcm = append(pcm, make([]int16, 1000)...)
	got := runDetector(NewInbandDetector(), pcm, FrameSize)
	if len(got) != 2 || got[0].key != '1' || got[1].key != '9' {
		t.Fatalf("got %+v", got)
	}
}

func TestInband_ResetKeepsStats(t *testing.T) {
	t.Parallel()
	d := NewInbandDetector()
	pcm := AppendDTMFTone(make([]int16, 200), '7', ms(60), DefaultToneLevel)
	runDetector(d, append(pcm, make([]int16, 400)...), FrameSize)
	// Cut in the middle of a tone: after Reset the tail alone is too short.
	runDetector(d, AppendDTMFTone(nil, '8', ms(30), DefaultToneLevel), FrameSize)
	d.Reset()
	if got := runDetector(d, AppendDTMFTone(nil, '8', ms(20), DefaultToneLevel), FrameSize); len(got) != 0 {
		t.Fatalf("tone continued across Reset: %+v", got)
	}
	if st := d.Stats(); st.Detected != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestInband_ProcessAllocatesNothing(t *testing.T) {
	pcm := AppendDTMFTone(make([]int16, 200), '5', ms(60), DefaultToneLevel)
	pcm = append(pcm, make([]int16, 600)...)
	d := NewInbandDetector()
	i := 0
	allocs := testing.AllocsPerRun(200, func() {
		off := (i * FrameSize) % (len(pcm) - FrameSize)
		d.Process(pcm[off : off+FrameSize])
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame", allocs)
	}
	if d.Stats().Detected == 0 {
		t.Fatal("the loop never detected the key")
	}
}

func TestDTMFFrequencies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		key      byte
		low, hig float64
		ok       bool
	}{
		{'1', 697, 1209, true}, {'5', 770, 1336, true}, {'9', 852, 1477, true}, {'0', 941, 1336, true},
		{'*', 941, 1209, true}, {'#', 941, 1477, true}, {'A', 697, 1633, true}, {'d', 941, 1633, true},
		{'x', 0, 0, false}, {0, 0, 0, false},
	} {
		lo, hi, ok := DTMFFrequencies(tc.key)
		if lo != tc.low || hi != tc.hig || ok != tc.ok {
			t.Errorf("%q: %v %v %v", tc.key, lo, hi, ok)
		}
	}
}

// TestAppendDTMFTone checks length, level and determinism of the
// generator, and that it appends.
func TestAppendDTMFTone(t *testing.T) {
	t.Parallel()
	a := AppendDTMFTone([]int16{1, 2}, '5', ms(100), -10)
	b := AppendDTMFTone(nil, '5', ms(100), -10)
	if len(a) != 802 || a[0] != 1 || a[1] != 2 || !slices.Equal(a[2:], b) {
		t.Fatalf("length %d", len(a))
	}
	var p float64
	for _, v := range b {
		p += float64(v) * float64(v)
	}
	p /= float64(len(b))
	if db := 10 * math.Log10(p/zeroDBm0Power); math.Abs(db-(-10+3.01)) > 0.1 {
		t.Fatalf("pair power %.2f dBm0, want -6.99", db)
	}
	if got := AppendDTMFTone(nil, 'x', ms(100), -10); got != nil {
		t.Fatal("invalid key generated samples")
	}
	// Too loud for 16 bits: clipped, not wrapped around.
	loud := AppendDTMFTone(nil, '1', ms(20), 6)
	if slices.Max(loud) != math.MaxInt16 || slices.Min(loud) != math.MinInt16 {
		t.Fatalf("loud tone spans %d..%d", slices.Min(loud), slices.Max(loud))
	}
	// 0 dBm0 is the power of the G.711 digital milliwatt (ITU-T G.711
	// table 5), a 1 kHz sine.
	ref := []byte{0x1e, 0x0b, 0x0b, 0x1e, 0x9e, 0x8b, 0x8b, 0x9e}
	dec := make([]int16, len(ref))
	DecodePCMUTo(dec, ref)
	var mw float64
	for _, v := range dec {
		mw += float64(v) * float64(v) / float64(len(dec))
	}
	if db := 10 * math.Log10(mw/zeroDBm0Power); math.Abs(db) > 0.05 {
		t.Fatalf("digital milliwatt at %.3f dB from the 0 dBm0 reference", db)
	}
}

// talkoffFile is the result of one talk-off corpus file.
type talkoffFile struct {
	name    string
	seconds float64
	keys    []string
	stats   InbandStats
}

// runTalkoff runs a fresh detector over every WAV file in dir.
func runTalkoff(t testing.TB, dir string) []talkoffFile {
	files, err := filepath.Glob(filepath.Join(dir, "*.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no talk-off corpus in %s (run testdata/talkoff/gen.sh)", dir)
	}
	var out []talkoffFile
	var pcm [FrameSize]int16
	for _, f := range files {
		p, err := LoadWAV(filepath.Base(f), f)
		if err != nil {
			t.Fatal(err)
		}
		d := NewInbandDetector()
		r := talkoffFile{name: filepath.Base(f), seconds: p.Duration().Seconds()}
		for i, fr := range p.Frames(PCMU) {
			DecodePCMUTo(pcm[:], fr)
			if k, ok := d.Process(pcm[:]); ok {
				r.keys = append(r.keys, fmt.Sprintf("%c at %.2f s", k, float64(i+1)*FrameDuration.Seconds()))
			}
		}
		r.stats = d.Stats()
		out = append(out, r)
	}
	return out
}

// TestInband_TalkOff runs the detector over the speech and music corpus of
// testdata/talkoff: it must hear no key at all.
func TestInband_TalkOff(t *testing.T) {
	t.Parallel()
	var total int
	var secs float64
	for _, f := range runTalkoff(t, talkoffDir) {
		total += len(f.keys)
		secs += f.seconds
		if len(f.keys) > 0 {
			t.Errorf("%s: false detections %v", f.name, f.keys)
		}
	}
	t.Logf("talk-off: %d false detections in %.0f s of speech and music", total, secs)
	if *talkoffLarge != "" {
		// The large corpus that `gen.sh large DIR` writes outside the repository.
		total, secs = 0, 0
		var st InbandStats
		for _, f := range runTalkoff(t, *talkoffLarge) {
			total += len(f.keys)
			secs += f.seconds
			st.add(f.stats)
			if len(f.keys) > 0 {
				t.Errorf("%s: false detections %v", f.name, f.keys)
			}
		}
		t.Logf("large talk-off corpus: %d false detections in %.0f s; candidates rejected: %s", total, secs, st.rejects())
	}
}

// TestInband_Results writes testdata/talkoff/RESULTS.md with -update:
// conformance and talk-off tables, latency and cost. Without -update it
// only checks that the file exists.
func TestInband_Results(t *testing.T) {
	if !*update {
		if _, err := os.Stat(resultsFile); err != nil {
			t.Fatalf("%v (run go test ./media -run TestInband_Results -update)", err)
		}
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# In-band DTMF detector: conformance, talk-off, latency, cost\n\n")
	fmt.Fprintf(&b, "Generated by `go test ./media -run TestInband_Results -update` (media/inband_test.go).\n")
	fmt.Fprintf(&b, "Signals are generated in Go and pass through G.711 (µ-law unless noted). Each row runs every\n")
	fmt.Fprintf(&b, "key (16, unless noted) at %d alignments against the detector's blocks and the 20 ms frames.\n", len(alignments))
	fmt.Fprintf(&b, "Tones are at -7 dBm0 per frequency unless noted; levels are per frequency (a pair is 3 dB louder).\n\n")
	fmt.Fprintf(&b, "## Conformance\n\n")
	fmt.Fprintf(&b, "| Signal | Expected | Trials | Passed | Detections | Rejections (all trials) |\n|---|---|---:|---:|---:|---|\n")
	var lat latencies
	fails := 0
	for _, c := range conformanceCases() {
		r := runCase(c, &lat)
		want := "no key"
		switch c.want {
		case 1:
			want = "1 press"
		case 2:
			want = "2 presses"
		}
		if c.reason != "" {
			want += " (" + c.reason + ")"
		}
		if r.passed != r.trials {
			fails++
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %s |\n", c.name, want, r.trials, r.passed, r.detections, r.stats.rejects())
	}
	fmt.Fprintf(&b, "\n## Detection latency from tone start\n\n")
	fmt.Fprintf(&b, "Over the %d detected trials above (first press of each).\n\n", len(lat.exact))
	fmt.Fprintf(&b, "| | Median | Max |\n|---|---:|---:|\n")
	fmt.Fprintf(&b, "| Confirmation (sample where the detector decides) | %.1f ms | %.1f ms |\n", msf(median(lat.exact)), msf(slices.Max(lat.exact)))
	fmt.Fprintf(&b, "| Reported, 20 ms frames (end of the frame that returns the key) | %.1f ms | %.1f ms |\n", msf(median(lat.frame)), msf(slices.Max(lat.frame)))
	var worst time.Duration
	for _, e := range lat.delayErr {
		worst = max(worst, e, -e)
	}
	fmt.Fprintf(&b, "\nDigit.Delay (the detector's estimate of the second row) is within %.1f ms.\n", msf(worst))

	fmt.Fprintf(&b, "\n## Talk-off\n\n")
	fmt.Fprintf(&b, "Corpus: testdata/talkoff/gen.sh (espeak-ng speech in English, German, Spanish, French and\n")
	fmt.Fprintf(&b, "Mandarin, male, female and child voices; sox music-like signals), 8 kHz µ-law, peak -1 dBFS.\n")
	fmt.Fprintf(&b, "Rejections are candidates (a key screened in two or more windows) and why they failed.\n\n")
	fmt.Fprintf(&b, "| File | Seconds | False detections | Candidates rejected |\n|---|---:|---:|---|\n")
	var total int
	var secs float64
	for _, f := range runTalkoff(t, talkoffDir) {
		total += len(f.keys)
		secs += f.seconds
		fmt.Fprintf(&b, "| %s | %.1f | %d | %s |\n", f.name, f.seconds, len(f.keys), f.stats.rejects())
	}
	fmt.Fprintf(&b, "| **total** | **%.1f** | **%d** | |\n", secs, total)

	fmt.Fprintf(&b, "\n## Cost\n\n")
	fmt.Fprintf(&b, "One 20 ms frame: G.711 µ-law decode of 160 bytes + InbandDetector.Process (BenchmarkInbandFrame),\n")
	fmt.Fprintf(&b, "measured in this run on one core of the machine that generated this file.\n\n")
	fmt.Fprintf(&b, "| Signal | ns/frame | Channels per core (20 ms / ns per frame) | allocs/frame |\n|---|---:|---:|---:|\n")
	for _, s := range benchSignals(t) {
		res := testing.Benchmark(func(b *testing.B) { benchInbandFrame(b, s.frames) })
		ns := float64(res.T.Nanoseconds()) / float64(res.N)
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %d |\n", s.name, ns, float64(FrameDuration.Nanoseconds())/ns, res.AllocsPerOp())
	}
	if err := os.WriteFile(resultsFile, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if fails > 0 || total > 0 {
		t.Errorf("%d conformance rows failed, %d false detections: see %s", fails, total, resultsFile)
	}
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchSignal is µ-law audio cut into frames.
type benchSignal struct {
	name   string
	frames [][]byte
}

// benchSignals returns the benchmark inputs: speech (the talk-off corpus's
// English and Mandarin voices), key presses, white noise and silence.
func benchSignals(t testing.TB) []benchSignal {
	enc := func(name string, pcm []int16) benchSignal {
		return benchSignal{name, NewPrompt(name, pcm).Frames(PCMU)}
	}
	var keys []int16
	for _, k := range []byte(dtmfKeys) {
		keys = AppendDTMFTone(keys, k, ms(60), DefaultToneLevel)
		keys = append(keys, make([]int16, samples(ms(60)))...)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]int16, 8000)
	for i := range noise {
		noise[i] = int16(rng.NormFloat64() * 3000)
	}
	var speech [][]byte
	for _, f := range []string{"speech-en-us-m.wav", "speech-cmn.wav"} {
		p, err := LoadWAV(f, filepath.Join(talkoffDir, f))
		if err != nil {
			t.Fatal(err)
		}
		speech = append(speech, p.Frames(PCMU)...)
	}
	return []benchSignal{
		{"speech (talk-off corpus)", speech},
		enc("DTMF keys, 60 ms on / 60 ms off", keys),
		enc("white noise, -20 dBm0", noise),
		enc("silence", make([]int16, 8000)),
	}
}

func benchInbandFrame(b *testing.B, frames [][]byte) {
	d := NewInbandDetector()
	var pcm [FrameSize]int16
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		DecodePCMUTo(pcm[:], frames[i])
		d.Process(pcm[:])
		if i++; i == len(frames) {
			i = 0
		}
	}
	b.ReportMetric(float64(FrameDuration.Nanoseconds())/(float64(b.Elapsed().Nanoseconds())/float64(b.N)), "channels/core")
}

// BenchmarkInbandFrame is the cost of in-band detection per call and per
// 20 ms frame: decode 160 µ-law bytes and run the detector.
func BenchmarkInbandFrame(b *testing.B) {
	for _, s := range benchSignals(b) {
		b.Run(strings.Fields(s.name)[0], func(b *testing.B) { benchInbandFrame(b, s.frames) })
	}
}

// FuzzInbandDetector feeds arbitrary audio in arbitrary slices: the
// detector must not panic and may only return valid keys.
func FuzzInbandDetector(f *testing.F) {
	tone := AppendDTMFTone(make([]int16, 100), '5', ms(60), DefaultToneLevel)
	seed := make([]byte, 1, 1+2*len(tone))
	seed[0] = 160
	for _, v := range tone {
		seed = append(seed, byte(v), byte(v>>8))
	}
	f.Add(seed)
	f.Add([]byte{1, 0xff, 0x7f, 0x00, 0x80})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		chunk := int(data[0]) + 1
		pcm := make([]int16, (len(data)-1)/2)
		for i := range pcm {
			pcm[i] = int16(uint16(data[1+2*i]) | uint16(data[2+2*i])<<8)
		}
		d := NewInbandDetector()
		for _, g := range runDetector(d, pcm, chunk) {
			if !strings.ContainsRune(dtmfKeys, rune(g.key)) || g.delay < 0 {
				t.Fatalf("bad detection %+v", g)
			}
		}
		if st := d.Stats(); st.Detected > uint64(len(pcm)/samples(ms(28))+1) {
			t.Fatalf("%d detections in %d samples", st.Detected, len(pcm))
		}
	})
}
