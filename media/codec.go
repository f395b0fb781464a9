package media

import (
	"time"

	"github.com/zaf/g711"
)

// CodecName is the RTP encoding name of an audio codec as it appears in an
// SDP a=rtpmap line (RFC 3551 §4.5, RFC 4566 §6).
type CodecName string

// Codecs supported by Hotline. Both are G.711 (ITU-T G.711), 8000 Hz mono,
// with the static payload types of RFC 3551 §6 (table 4).
const (
	// PCMU is G.711 µ-law, static payload type 0.
	PCMU CodecName = "PCMU"
	// PCMA is G.711 A-law, static payload type 8.
	PCMA CodecName = "PCMA"
)

// Codec is a negotiated audio codec: its name and the RTP payload type the
// peer uses for it. The clock rate is always 8000 Hz and the packet time
// 20 ms, so one frame is FrameSize bytes.
type Codec struct {
	Name CodecName
	PT   uint8
}

// Frame geometry for G.711 at 8000 Hz with a 20 ms packet time
// (RFC 3551 §4.5.14: one octet per sample).
const (
	// ClockRate is the RTP clock rate of G.711 (RFC 3551 §4.5.14).
	ClockRate = 8000
	// FrameSize is the number of samples, and bytes, in one 20 ms G.711 frame.
	FrameSize = 160
	// FrameDuration is the packet time of one frame.
	FrameDuration = 20 * time.Millisecond
)

// Static payload types of RFC 3551 §6.
const (
	PTPCMU uint8 = 0
	PTPCMA uint8 = 8
)

// CodecPCMU and CodecPCMA are the codecs with their static payload types.
var (
	CodecPCMU = Codec{Name: PCMU, PT: PTPCMU}
	CodecPCMA = Codec{Name: PCMA, PT: PTPCMA}
)

// Silence bytes: a zero sample encodes to 0xFF in µ-law and 0xD5 in A-law
// (0x00 in µ-law is a loud sample).
const (
	SilencePCMU byte = 0xFF
	SilencePCMA byte = 0xD5
)

// Silence returns the byte that encodes a zero sample in codec c. Codecs
// other than PCMA are treated as PCMU.
func Silence(c CodecName) byte {
	if c == PCMA {
		return SilencePCMA
	}
	return SilencePCMU
}

// EncodePCMUTo encodes min(len(dst), len(src)) linear samples to µ-law in
// dst and returns that count. It does not allocate.
func EncodePCMUTo(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	for i := range n {
		dst[i] = g711.EncodeUlawFrame(src[i])
	}
	return n
}

// EncodePCMATo encodes min(len(dst), len(src)) linear samples to A-law in
// dst and returns that count. It does not allocate.
func EncodePCMATo(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	for i := range n {
		dst[i] = g711.EncodeAlawFrame(src[i])
	}
	return n
}

// DecodePCMUTo decodes min(len(dst), len(src)) µ-law bytes to linear
// samples in dst and returns that count. It does not allocate.
func DecodePCMUTo(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	for i := range n {
		dst[i] = g711.DecodeUlawFrame(src[i])
	}
	return n
}

// DecodePCMATo decodes min(len(dst), len(src)) A-law bytes to linear
// samples in dst and returns that count. It does not allocate.
func DecodePCMATo(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	for i := range n {
		dst[i] = g711.DecodeAlawFrame(src[i])
	}
	return n
}
