package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/zaf/g711"
)

// Prompt is an audio clip ready to send: decoded once at load, encoded once
// to both codecs and cut into 20 ms frames that every call shares. A Prompt
// is immutable and safe for concurrent use.
type Prompt struct {
	name string
	pcmu [][]byte
	pcma [][]byte
}

// NewPrompt encodes 8 kHz mono linear samples to both codecs. The last
// frame is padded with silence.
func NewPrompt(name string, pcm []int16) *Prompt {
	ulaw := make([]byte, len(pcm))
	alaw := make([]byte, len(pcm))
	EncodePCMUTo(ulaw, pcm)
	EncodePCMATo(alaw, pcm)
	return &Prompt{name: name, pcmu: frames(ulaw, SilencePCMU), pcma: frames(alaw, SilencePCMA)}
}

// newPromptG711 builds a prompt from encoded samples, keeping the source
// codec bit-exact and transcoding to the other with G.711's tables.
func newPromptG711(name string, data []byte, c CodecName) *Prompt {
	other := make([]byte, len(data))
	if c == PCMA {
		for i, b := range data {
			other[i] = g711.Alaw2UlawFrame(b)
		}
		return &Prompt{name: name, pcmu: frames(other, SilencePCMU), pcma: frames(data, SilencePCMA)}
	}
	for i, b := range data {
		other[i] = g711.Ulaw2AlawFrame(b)
	}
	return &Prompt{name: name, pcmu: frames(data, SilencePCMU), pcma: frames(other, SilencePCMA)}
}

// frames cuts samples into FrameSize frames in one new backing array,
// padding the last with silence. Each frame's capacity is its length, so an
// append by a careless reader cannot write into the next frame.
func frames(samples []byte, silence byte) [][]byte {
	n := (len(samples) + FrameSize - 1) / FrameSize
	buf := make([]byte, n*FrameSize)
	m := copy(buf, samples)
	for i := m; i < len(buf); i++ {
		buf[i] = silence
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = buf[i*FrameSize : (i+1)*FrameSize : (i+1)*FrameSize]
	}
	return out
}

// Name returns the name the prompt was loaded under.
func (p *Prompt) Name() string { return p.name }

// Frames returns the prompt's 160-byte frames in codec c, or nil for a codec
// other than PCMU and PCMA. The slices are shared: callers must not modify
// them.
func (p *Prompt) Frames(c CodecName) [][]byte {
	switch c {
	case PCMU:
		return p.pcmu
	case PCMA:
		return p.pcma
	}
	return nil
}

// Duration returns the playing time, a whole number of frames.
func (p *Prompt) Duration() time.Duration {
	return time.Duration(len(p.pcmu)) * FrameDuration
}

// WAVE format tags (RFC 2361 appendix A).
const (
	wavPCM        = 1
	wavALaw       = 6
	wavMuLaw      = 7
	wavExtensible = 0xFFFE
)

// ErrWAV reports a WAV file that is malformed or in a format we do not play.
var ErrWAV = errors.New("unsupported or malformed wav")

// LoadWAV reads and decodes the WAV file at path (see DecodeWAV).
func LoadWAV(name, path string) (*Prompt, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("prompt %s: %w", name, err)
	}
	return DecodeWAV(name, data)
}

// DecodeWAV decodes a RIFF WAVE file holding 8 kHz mono audio as 16-bit
// linear PCM (format 1), µ-law (format 7) or A-law (format 6), also inside
// WAVE_FORMAT_EXTENSIBLE. Chunks other than "fmt " and "data" (LIST, fact,
// ...) are skipped. Any other format is an error wrapping ErrWAV that says
// what the file holds.
func DecodeWAV(name string, data []byte) (*Prompt, error) {
	fail := func(format string, args ...any) (*Prompt, error) {
		return nil, fmt.Errorf("prompt %s: %w: "+format, append([]any{name, ErrWAV}, args...)...)
	}
	if len(data) < 12 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return fail("not a RIFF WAVE file")
	}
	var fmtChunk, body []byte
	var haveData bool
	for rest := data[12:]; len(rest) >= 8; {
		id, size := string(rest[0:4]), binary.LittleEndian.Uint32(rest[4:8])
		rest = rest[8:]
		// Streaming writers leave the size at 0 or 0xFFFFFFFF: clamp.
		n := int(min(uint64(size), uint64(len(rest))))
		switch id {
		case "fmt ":
			fmtChunk = rest[:n]
		case "data":
			body, haveData = rest[:n], true
		}
		// RIFF chunks are padded to an even length.
		rest = rest[min(len(rest), n+(n&1)):]
	}
	if len(fmtChunk) < 16 {
		return fail("missing or short fmt chunk")
	}
	if !haveData {
		return fail("missing data chunk")
	}
	tag := binary.LittleEndian.Uint16(fmtChunk[0:2])
	channels := binary.LittleEndian.Uint16(fmtChunk[2:4])
	rate := binary.LittleEndian.Uint32(fmtChunk[4:8])
	bits := binary.LittleEndian.Uint16(fmtChunk[14:16])
	if tag == wavExtensible && len(fmtChunk) >= 26 {
		// The sub-format GUID starts with the real format tag.
		tag = binary.LittleEndian.Uint16(fmtChunk[24:26])
	}
	if channels != 1 {
		return fail("%d channels, want mono", channels)
	}
	if rate != ClockRate {
		return fail("sample rate %d Hz, want %d", rate, ClockRate)
	}
	switch {
	case tag == wavPCM && bits == 16:
		pcm := make([]int16, len(body)/2)
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
		}
		return NewPrompt(name, pcm), nil
	case tag == wavMuLaw && bits == 8:
		return newPromptG711(name, body, PCMU), nil
	case tag == wavALaw && bits == 8:
		return newPromptG711(name, body, PCMA), nil
	}
	return fail("format %d with %d bits per sample, want PCM16, µ-law or A-law", tag, bits)
}

// WriteWAV writes pcm as a RIFF WAVE file of 8 kHz mono 16-bit linear PCM.
func WriteWAV(w io.Writer, pcm []int16) error {
	const headerSize = 44
	dataSize := 2 * len(pcm)
	if uint64(dataSize) > 0xFFFFFFFF-headerSize+8 {
		return fmt.Errorf("write wav: %d samples: %w", len(pcm), ErrWAV)
	}
	buf := make([]byte, headerSize, headerSize+dataSize)
	copy(buf[0:], "RIFF")
	binary.LittleEndian.PutUint32(buf[4:], uint32(headerSize-8+dataSize))
	copy(buf[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(buf[16:], 16)
	binary.LittleEndian.PutUint16(buf[20:], wavPCM)
	binary.LittleEndian.PutUint16(buf[22:], 1)           // channels
	binary.LittleEndian.PutUint32(buf[24:], ClockRate)   // sample rate
	binary.LittleEndian.PutUint32(buf[28:], 2*ClockRate) // byte rate
	binary.LittleEndian.PutUint16(buf[32:], 2)           // block align
	binary.LittleEndian.PutUint16(buf[34:], 16)          // bits per sample
	copy(buf[36:], "data")
	binary.LittleEndian.PutUint32(buf[40:], uint32(dataSize))
	for _, s := range pcm {
		buf = binary.LittleEndian.AppendUint16(buf, uint16(s))
	}
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write wav: %w", err)
	}
	return nil
}
