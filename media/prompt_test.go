package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// wav builds a RIFF WAVE file from a fmt chunk body and extra chunks.
func wav(format, channels uint16, rate uint32, bits uint16, chunks ...[]byte) []byte {
	fmtBody := binary.LittleEndian.AppendUint16(nil, format)
	fmtBody = binary.LittleEndian.AppendUint16(fmtBody, channels)
	fmtBody = binary.LittleEndian.AppendUint32(fmtBody, rate)
	fmtBody = binary.LittleEndian.AppendUint32(fmtBody, rate*uint32(channels)*uint32(bits)/8)
	fmtBody = binary.LittleEndian.AppendUint16(fmtBody, channels*bits/8)
	fmtBody = binary.LittleEndian.AppendUint16(fmtBody, bits)
	body := []byte("WAVE")
	body = append(body, chunk("fmt ", fmtBody)...)
	for _, c := range chunks {
		body = append(body, c...)
	}
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	return append(out, body...)
}

// chunk encodes one RIFF chunk with its pad byte.
func chunk(id string, data []byte) []byte {
	out := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	out = append(out, data...)
	if len(data)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

func TestWAV_RoundTripPCM16(t *testing.T) {
	t.Parallel()
	pcm := sine(3*FrameSize+17, 15000)
	var buf bytes.Buffer
	if err := WriteWAV(&buf, pcm); err != nil {
		t.Fatal(err)
	}
	p, err := DecodeWAV("tone", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := NewPrompt("tone", pcm)
	if p.Name() != "tone" || p.Duration() != 4*FrameDuration {
		t.Fatalf("name %q duration %v", p.Name(), p.Duration())
	}
	for _, c := range []CodecName{PCMU, PCMA} {
		got, exp := p.Frames(c), want.Frames(c)
		if len(got) != 4 {
			t.Fatalf("%s: %d frames, want 4", c, len(got))
		}
		for i := range got {
			if len(got[i]) != FrameSize || !bytes.Equal(got[i], exp[i]) {
				t.Fatalf("%s frame %d differs", c, i)
			}
		}
		last := got[3]
		for i := 17; i < FrameSize; i++ {
			if last[i] != Silence(c) {
				t.Fatalf("%s: padding byte %d is %#x, want silence", c, i, last[i])
			}
		}
	}
	if p.Frames("G722") != nil {
		t.Fatal("frames for an unknown codec")
	}
}

func TestDecodeWAV_Formats(t *testing.T) {
	t.Parallel()
	ulaw := make([]byte, 2*FrameSize+1)
	for i := range ulaw {
		ulaw[i] = byte(i)
	}
	list := chunk("LIST", []byte("INFOISFT\x05\x00\x00\x00sox!\x00"))
	odd := chunk("junk", []byte{1, 2, 3})
	extensible := func(sub uint16, bits uint16, data []byte) []byte {
		ext := binary.LittleEndian.AppendUint16(nil, wavExtensible)
		ext = binary.LittleEndian.AppendUint16(ext, 1)
		ext = binary.LittleEndian.AppendUint32(ext, 8000)
		ext = binary.LittleEndian.AppendUint32(ext, 8000*uint32(bits)/8)
		ext = binary.LittleEndian.AppendUint16(ext, bits/8)
		ext = binary.LittleEndian.AppendUint16(ext, bits)
		ext = binary.LittleEndian.AppendUint16(ext, 22)
		ext = binary.LittleEndian.AppendUint16(ext, bits)
		ext = binary.LittleEndian.AppendUint32(ext, 0)
		ext = binary.LittleEndian.AppendUint16(ext, sub)
		ext = append(ext, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71)
		out := []byte("WAVE")
		out = append(out, chunk("fmt ", ext)...)
		out = append(out, chunk("data", data)...)
		return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(out)))...), out...)
	}
	tests := []struct {
		name   string
		data   []byte
		codec  CodecName // codec stored bit-exact
		frames int
	}{
		{"mulaw fmt 7 with LIST and odd chunk", wav(wavMuLaw, 1, 8000, 8, list, odd, chunk("data", ulaw)), PCMU, 3},
		{"alaw fmt 6", wav(wavALaw, 1, 8000, 8, chunk("data", ulaw), list), PCMA, 3},
		{"data before fmt is fine", append(wav(wavMuLaw, 1, 8000, 8)[:12], append(chunk("data", ulaw), chunk("fmt ", wav(wavMuLaw, 1, 8000, 8)[20:36])...)...), PCMU, 3},
		{"extensible mulaw", extensible(wavMuLaw, 8, ulaw), PCMU, 3},
		{"empty data", wav(wavMuLaw, 1, 8000, 8, chunk("data", nil)), PCMU, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := DecodeWAV("x", tc.data)
			if err != nil {
				t.Fatal(err)
			}
			fr := p.Frames(tc.codec)
			if len(fr) != tc.frames || p.Duration() != time.Duration(tc.frames)*FrameDuration {
				t.Fatalf("%d frames, duration %v, want %d", len(fr), p.Duration(), tc.frames)
			}
			if tc.frames == 0 {
				return
			}
			joined := bytes.Join(fr, nil)
			if !bytes.Equal(joined[:len(ulaw)], ulaw) {
				t.Fatal("samples not kept bit-exact")
			}
			if joined[len(ulaw)] != Silence(tc.codec) {
				t.Fatal("last frame not padded with silence")
			}
			// The other codec is a transcoding of the same audio.
			other := PCMA
			if tc.codec == PCMA {
				other = PCMU
			}
			if len(p.Frames(other)) != tc.frames || p.Frames(other)[2][1] != Silence(other) {
				t.Fatal("other codec frames wrong")
			}
		})
	}
}

func TestDecodeWAV_Rejects(t *testing.T) {
	t.Parallel()
	data := chunk("data", make([]byte, 320))
	tests := []struct {
		name string
		data []byte
		msg  string
	}{
		{"not riff", []byte("hello world, not a wav file"), "not a RIFF WAVE"},
		{"short", []byte("RIFF"), "not a RIFF WAVE"},
		{"stereo", wav(wavPCM, 2, 8000, 16, data), "2 channels"},
		{"16 kHz", wav(wavPCM, 1, 16000, 16, data), "16000 Hz"},
		{"float", wav(3, 1, 8000, 32, data), "format 3"},
		{"pcm 8 bit", wav(wavPCM, 1, 8000, 8, data), "format 1 with 8 bits"},
		{"no data", wav(wavPCM, 1, 8000, 16), "missing data"},
		{"no fmt", append([]byte("RIFF\x10\x00\x00\x00WAVE"), data...), "fmt chunk"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeWAV("bad", tc.data)
			if !errors.Is(err, ErrWAV) || !bytes.Contains([]byte(err.Error()), []byte(tc.msg)) {
				t.Fatalf("err = %v, want ErrWAV mentioning %q", err, tc.msg)
			}
		})
	}
}

func TestLoadWAV(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.wav")
	var buf bytes.Buffer
	if err := WriteWAV(&buf, sine(FrameSize, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := LoadWAV("p", path)
	if err != nil || len(p.Frames(PCMU)) != 1 {
		t.Fatalf("LoadWAV = %v, %v", p, err)
	}
	if _, err := LoadWAV("missing", filepath.Join(t.TempDir(), "nope.wav")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestPrompt_FramesDoNotOverlap(t *testing.T) {
	t.Parallel()
	p := NewPrompt("x", sine(2*FrameSize, 8000))
	f := p.Frames(PCMU)
	if cap(f[0]) != FrameSize {
		t.Fatalf("frame capacity %d, want %d", cap(f[0]), FrameSize)
	}
}
