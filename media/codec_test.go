package media

import (
	"math"
	"testing"

	"github.com/zaf/g711"
)

// sine returns n samples of a 1 kHz tone at the given amplitude.
func sine(n int, amp float64) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(amp * math.Sin(2*math.Pi*1000*float64(i)/ClockRate))
	}
	return pcm
}

func TestEncodeTo_MatchesLibrary(t *testing.T) {
	t.Parallel()
	pcm := sine(1000, 20000)
	pcm = append(pcm, 0, -1, 1, math.MaxInt16, math.MinInt16)
	raw := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		raw[2*i], raw[2*i+1] = byte(s), byte(uint16(s)>>8)
	}
	tests := []struct {
		name   string
		encode func([]byte, []int16) int
		want   []byte
		decode func([]int16, []byte) int
		lib    func([]byte) []byte
	}{
		{"pcmu", EncodePCMUTo, g711.EncodeUlaw(raw), DecodePCMUTo, g711.DecodeUlaw},
		{"pcma", EncodePCMATo, g711.EncodeAlaw(raw), DecodePCMATo, g711.DecodeAlaw},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dst := make([]byte, len(pcm)+3)
			if n := tc.encode(dst, pcm); n != len(pcm) {
				t.Fatalf("encoded %d samples, want %d", n, len(pcm))
			}
			if string(dst[:len(pcm)]) != string(tc.want) {
				t.Fatal("encoding differs from zaf/g711")
			}
			back := make([]int16, len(pcm))
			tc.decode(back, dst[:len(pcm)])
			libBack := tc.lib(tc.want)
			for i, s := range back {
				if want := int16(uint16(libBack[2*i]) | uint16(libBack[2*i+1])<<8); s != want {
					t.Fatalf("sample %d decodes to %d, want %d", i, s, want)
				}
			}
		})
	}
}

func TestSilence(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   CodecName
		enc    func([]byte, []int16) int
		expect byte
	}{{PCMU, EncodePCMUTo, 0xFF}, {PCMA, EncodePCMATo, 0xD5}} {
		t.Run(string(tc.name), func(t *testing.T) {
			t.Parallel()
			var b [1]byte
			tc.enc(b[:], []int16{0})
			if b[0] != tc.expect || Silence(tc.name) != tc.expect {
				t.Fatalf("silence %#x / %#x, want %#x", b[0], Silence(tc.name), tc.expect)
			}
		})
	}
}

func BenchmarkEncodePCMU(b *testing.B) {
	src := sine(FrameSize, 12000)
	dst := make([]byte, FrameSize)
	b.SetBytes(FrameSize)
	b.ReportAllocs()
	for b.Loop() {
		EncodePCMUTo(dst, src)
	}
}
