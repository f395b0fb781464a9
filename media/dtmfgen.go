package media

import (
	"math"
	"time"
)

// In-band DTMF generation, ITU-T Q.23 frequencies.
const (
	// DefaultToneLevel is the level of each frequency of a generated DTMF
	// tone, in dBm0: inside the −3 to −25 dBm0 per frequency that
	// ITU-T Q.24 networks accept, as telephone sets send.
	DefaultToneLevel = -7.0
	// ToneGap is the silence SendTone leaves after each tone, so that two
	// presses of one key stay two (receivers need a pause of 40 ms).
	ToneGap = 60 * time.Millisecond
)

// AppendDTMFTone appends to dst the tone pair of key ('0'-'9', '*', '#',
// 'A'-'D', also lower case) at the nominal frequencies, each at levelDBm0
// (so the pair is 3 dB louder), for dur rounded down to whole samples, as
// 8 kHz linear PCM. Both sines start at phase zero, so the output is the
// same for the same arguments. An invalid key appends nothing.
func AppendDTMFTone(dst []int16, key byte, dur time.Duration, levelDBm0 float64) []int16 {
	low, high, ok := DTMFFrequencies(key)
	if !ok {
		return dst
	}
	return AppendDualTone(dst, low, levelDBm0, high, levelDBm0, dur)
}

// AppendDualTone appends dur of f1 Hz at l1 dBm0 plus f2 Hz at l2 dBm0 to
// dst, as 8 kHz linear PCM: a DTMF tone with a frequency offset or twist,
// or a call-progress tone such as North American dial tone (350 Hz and
// 440 Hz at −13 dBm0). A level of −Inf leaves that sine out. Samples
// beyond the 16-bit range are clipped.
func AppendDualTone(dst []int16, f1, l1, f2, l2 float64, dur time.Duration) []int16 {
	n := int(dur / (time.Second / ClockRate))
	a1 := zeroDBm0Peak * math.Pow(10, l1/20)
	a2 := zeroDBm0Peak * math.Pow(10, l2/20)
	w1 := 2 * math.Pi * f1 / ClockRate
	w2 := 2 * math.Pi * f2 / ClockRate
	for i := range n {
		v := a1*math.Sin(w1*float64(i)) + a2*math.Sin(w2*float64(i))
		dst = append(dst, int16(max(min(math.Round(v), math.MaxInt16), math.MinInt16)))
	}
	return dst
}

// toneFrames returns the G.711 frames of a tone for key lasting d,
// followed by ToneGap of silence, in codec c.
func toneFrames(key byte, d time.Duration, c CodecName) [][]byte {
	pcm := AppendDTMFTone(nil, key, d, DefaultToneLevel)
	pcm = append(pcm, make([]int16, int(ToneGap/(time.Second/ClockRate)))...)
	enc := make([]byte, len(pcm))
	if c == PCMA {
		EncodePCMATo(enc, pcm)
	} else {
		EncodePCMUTo(enc, pcm)
	}
	return frames(enc, Silence(c))
}
