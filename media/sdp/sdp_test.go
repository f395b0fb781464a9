package sdp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	pionsdp "github.com/pion/sdp/v3"

	"github.com/hotline-ivr/hotline/media"
)

// sdpText joins lines with CRLF, ending with one.
func sdpText(lines ...string) []byte { return []byte(strings.Join(lines, "\r\n") + "\r\n") }

// offerHead is a session header with a session-level c= line.
var offerHead = []string{
	"v=0",
	"o=alice 2890844526 2890844526 IN IP4 192.0.2.10",
	"s=-",
	"c=IN IP4 192.0.2.10",
	"t=0 0",
}

func offerWith(lines ...string) []byte {
	return sdpText(append(append([]string{}, offerHead...), lines...)...)
}

var local = netip.MustParseAddrPort("127.0.0.1:40000")

func TestAnswer(t *testing.T) {
	t.Parallel()
	remote := netip.MustParseAddrPort("192.0.2.10:49170")
	tests := []struct {
		name    string
		offer   []byte
		opts    AnswerOptions // Addr defaults to local
		want    Negotiated
		wantErr error
		errHas  string   // substring of the error message
		answer  []byte   // exact answer, if set
		mLines  []string // the answer's m= lines, if set
		hasAttr []string // lines the answer must contain
	}{
		{
			name:  "pcmu only",
			offer: offerWith("m=audio 49170 RTP/AVP 0"),
			opts:  AnswerOptions{SessionID: 42},
			want:  Negotiated{Codec: media.CodecPCMU, Remote: remote, Ptime: 20},
			answer: sdpText(
				"v=0",
				"o=- 42 42 IN IP4 127.0.0.1",
				"s=Hotline",
				"c=IN IP4 127.0.0.1",
				"t=0 0",
				"m=audio 40000 RTP/AVP 0",
				"a=rtpmap:0 PCMU/8000",
				"a=ptime:20",
				"a=sendrecv",
			),
		},
		{
			name:   "pcma only",
			offer:  offerWith("m=audio 49170 RTP/AVP 8", "a=rtpmap:8 PCMA/8000"),
			want:   Negotiated{Codec: media.CodecPCMA, Remote: remote, Ptime: 20},
			mLines: []string{"m=audio 40000 RTP/AVP 8"},
		},
		{
			name:   "both, our preference wins over offer order",
			offer:  offerWith("m=audio 49170 RTP/AVP 8 0"),
			want:   Negotiated{Codec: media.CodecPCMU, Remote: remote, Ptime: 20},
			mLines: []string{"m=audio 40000 RTP/AVP 0"},
		},
		{
			name:   "both, preference pcma",
			offer:  offerWith("m=audio 49170 RTP/AVP 0 8"),
			opts:   AnswerOptions{Codecs: []media.CodecName{media.PCMA, media.PCMU}},
			want:   Negotiated{Codec: media.CodecPCMA, Remote: remote, Ptime: 20},
			mLines: []string{"m=audio 40000 RTP/AVP 8"},
		},
		{
			name:   "unsupported preference names ignored",
			offer:  offerWith("m=audio 49170 RTP/AVP 9 0"),
			opts:   AnswerOptions{Codecs: []media.CodecName{"G722", media.PCMU}},
			want:   Negotiated{Codec: media.CodecPCMU, Remote: remote, Ptime: 20},
			mLines: []string{"m=audio 40000 RTP/AVP 0"},
		},
		{
			name: "telephone-event 101",
			offer: offerWith("m=audio 49170 RTP/AVP 0 8 101",
				"a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15"),
			want:    Negotiated{Codec: media.CodecPCMU, DTMFPT: 101, Remote: remote, Ptime: 20},
			mLines:  []string{"m=audio 40000 RTP/AVP 0 101"},
			hasAttr: []string{"a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"},
		},
		{
			name: "telephone-event 96",
			offer: offerWith("m=audio 49170 RTP/AVP 8 96",
				"a=rtpmap:96 telephone-event/8000"),
			want:    Negotiated{Codec: media.CodecPCMA, DTMFPT: 96, Remote: remote, Ptime: 20},
			mLines:  []string{"m=audio 40000 RTP/AVP 8 96"},
			hasAttr: []string{"a=rtpmap:96 telephone-event/8000", "a=fmtp:96 0-16"},
		},
		{
			name: "telephone-event 126 beside a 48 kHz one",
			offer: offerWith("m=audio 49170 RTP/AVP 111 0 110 126",
				"a=rtpmap:111 opus/48000/2", "a=rtpmap:110 telephone-event/48000",
				"a=rtpmap:126 TELEPHONE-EVENT/8000"),
			want:   Negotiated{Codec: media.CodecPCMU, DTMFPT: 126, Remote: remote, Ptime: 20},
			mLines: []string{"m=audio 40000 RTP/AVP 0 126"},
		},
		{
			name:    "dynamic pcmu payload type honoured, case-insensitive",
			offer:   offerWith("m=audio 49170 RTP/AVP 97 100", "a=rtpmap:97 pcmu/8000", "a=rtpmap:100 telephone-event/8000"),
			want:    Negotiated{Codec: media.Codec{Name: media.PCMU, PT: 97}, DTMFPT: 100, Remote: remote, Ptime: 20},
			mLines:  []string{"m=audio 40000 RTP/AVP 97 100"},
			hasAttr: []string{"a=rtpmap:97 PCMU/8000"},
		},
		{
			name:    "rtpmap of another m= line is not used",
			offer:   offerWith("m=audio 49170 RTP/AVP 0 101", "m=audio 49180 RTP/AVP 101", "a=rtpmap:101 telephone-event/8000"),
			want:    Negotiated{Codec: media.CodecPCMU, Remote: remote, Ptime: 20},
			mLines:  []string{"m=audio 40000 RTP/AVP 0", "m=audio 0 RTP/AVP 101"},
			hasAttr: []string{"a=rtpmap:0 PCMU/8000"},
		},
		{
			name:    "no common codec",
			offer:   offerWith("m=audio 49170 RTP/AVP 18 101", "a=rtpmap:18 G729/8000", "a=rtpmap:101 telephone-event/8000"),
			wantErr: ErrNoCommonCodec,
			errHas:  "offers 18 G729/8000, 101 telephone-event/8000; we support PCMU, PCMA",
		},
		{
			name:    "no common codec, static name from RFC 3551",
			offer:   offerWith("m=audio 49170 RTP/AVP 18 96"),
			wantErr: ErrNoCommonCodec,
			errHas:  "offers 18 G729/8000, 96 ?",
		},
		{
			name:    "wideband pcmu is not g.711",
			offer:   offerWith("m=audio 49170 RTP/AVP 97", "a=rtpmap:97 PCMU/16000"),
			wantErr: ErrNoCommonCodec,
		},
		{
			name: "video and audio",
			offer: sdpText(
				"v=0",
				"o=bob 1 1 IN IP4 198.51.100.1",
				"s=call",
				"c=IN IP4 198.51.100.1",
				"t=0 0",
				"m=video 51372 RTP/AVP 31 96",
				"a=rtpmap:96 H264/90000",
				"m=audio 49170 RTP/AVP 0 8 101",
				"c=IN IP4 198.51.100.7",
				"a=rtpmap:101 telephone-event/8000",
				"a=fmtp:101 0-16",
			),
			opts: AnswerOptions{SessionID: 7},
			want: Negotiated{Codec: media.CodecPCMU, DTMFPT: 101, Remote: netip.MustParseAddrPort("198.51.100.7:49170"), Ptime: 20},
			answer: sdpText(
				"v=0",
				"o=- 7 7 IN IP4 127.0.0.1",
				"s=Hotline",
				"c=IN IP4 127.0.0.1",
				"t=0 0",
				"m=video 0 RTP/AVP 31 96",
				"m=audio 40000 RTP/AVP 0 101",
				"a=rtpmap:0 PCMU/8000",
				"a=rtpmap:101 telephone-event/8000",
				"a=fmtp:101 0-16",
				"a=ptime:20",
				"a=sendrecv",
			),
		},
		{
			name:   "first audio line rejected by offerer, srtp line skipped",
			offer:  offerWith("m=audio 0 RTP/AVP 0", "m=audio 5000 RTP/SAVP 0", "m=audio 49170 RTP/AVP 8"),
			want:   Negotiated{Codec: media.CodecPCMA, Remote: remote, Ptime: 20},
			mLines: []string{"m=audio 0 RTP/AVP 0", "m=audio 0 RTP/SAVP 0", "m=audio 40000 RTP/AVP 8"},
		},
		{
			name:    "srtp only",
			offer:   offerWith("m=audio 49170 RTP/SAVP 0"),
			wantErr: ErrNoCommonCodec,
			errHas:  "no active RTP/AVP audio stream (m=audio 49170 RTP/SAVP)",
		},
		{
			name:    "video only",
			offer:   offerWith("m=video 49170 RTP/AVP 31"),
			wantErr: ErrNoCommonCodec,
		},
		{
			name: "ipv6",
			offer: sdpText("v=0", "o=- 1 1 IN IP6 2001:db8::1", "s=-", "c=IN IP6 2001:db8::1", "t=0 0",
				"m=audio 49170 RTP/AVP 0"),
			opts:    AnswerOptions{Addr: netip.MustParseAddrPort("[::1]:40000"), SessionID: 9},
			want:    Negotiated{Codec: media.CodecPCMU, Remote: netip.MustParseAddrPort("[2001:db8::1]:49170"), Ptime: 20},
			hasAttr: []string{"o=- 9 9 IN IP6 ::1", "c=IN IP6 ::1"},
		},
		{
			name:  "media-level c= overrides session-level",
			offer: offerWith("m=audio 49170 RTP/AVP 0", "c=IN IP4 203.0.113.5"),
			want:  Negotiated{Codec: media.CodecPCMU, Remote: netip.MustParseAddrPort("203.0.113.5:49170"), Ptime: 20},
		},
		{
			name:    "offer direction mirrored",
			offer:   offerWith("a=sendonly", "m=audio 49170 RTP/AVP 0"),
			want:    Negotiated{Codec: media.CodecPCMU, Remote: remote, Ptime: 20, Direction: RecvOnly},
			hasAttr: []string{"a=recvonly"},
		},
		{
			name:  "no final line break",
			offer: []byte("v=0\no=- 1 1 IN IP4 192.0.2.10\ns=-\nc=IN IP4 192.0.2.10\nt=0 0\nm=audio 49170 RTP/AVP 0"),
			want:  Negotiated{Codec: media.CodecPCMU, Remote: remote, Ptime: 20},
		},
		{
			name:    "missing c=",
			offer:   sdpText("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "t=0 0", "m=audio 49170 RTP/AVP 0"),
			wantErr: ErrMalformed,
			errHas:  "no connection address",
		},
		{
			name:    "hold address",
			offer:   offerWith("m=audio 49170 RTP/AVP 0", "c=IN IP4 0.0.0.0"),
			wantErr: ErrMalformed,
			errHas:  "0.0.0.0 (hold)",
		},
		{
			name:    "host name address",
			offer:   offerWith("m=audio 49170 RTP/AVP 0", "c=IN IP4 pbx.example.com"),
			wantErr: ErrMalformed,
		},
		{
			name:    "address family mismatch",
			offer:   offerWith("m=audio 49170 RTP/AVP 0", "c=IN IP4 2001:db8::1"),
			wantErr: ErrMalformed,
		},
		{
			name:    "multicast",
			offer:   offerWith("m=audio 49170 RTP/AVP 0", "c=IN IP4 224.2.1.1"),
			wantErr: ErrMalformed,
		},
		{name: "garbage", offer: []byte("hello world\r\n"), wantErr: ErrMalformed},
		{name: "empty", offer: nil, wantErr: ErrMalformed},
		{name: "no m= line", offer: sdpText(offerHead...), wantErr: ErrMalformed},
		{name: "bad port", offer: offerWith("m=audio 70000 RTP/AVP 0"), wantErr: ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := tc.opts
			if !opts.Addr.IsValid() {
				opts.Addr = local
			}
			answer, n, err := Answer(tc.offer, opts)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Answer() error = %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.errHas) {
					t.Errorf("Answer() error = %q, want it to contain %q", err, tc.errHas)
				}
				if answer != nil {
					t.Errorf("Answer() returned an answer with an error:\n%s", answer)
				}
				return
			}
			if err != nil {
				t.Fatalf("Answer() error = %v", err)
			}
			if n != tc.want {
				t.Errorf("Answer() negotiated %+v, want %+v", n, tc.want)
			}
			if tc.answer != nil && string(answer) != string(tc.answer) {
				t.Errorf("Answer() =\n%s\nwant\n%s", answer, tc.answer)
			}
			lines := strings.Split(strings.TrimSuffix(string(answer), "\r\n"), "\r\n")
			var mLines []string
			for _, l := range lines {
				if strings.HasPrefix(l, "m=") {
					mLines = append(mLines, l)
				}
			}
			if tc.mLines != nil && strings.Join(mLines, "|") != strings.Join(tc.mLines, "|") {
				t.Errorf("answer m= lines %q, want %q", mLines, tc.mLines)
			}
			for _, a := range tc.hasAttr {
				if !strings.Contains(string(answer), a+"\r\n") {
					t.Errorf("answer lacks %q:\n%s", a, answer)
				}
			}
			checkAnswer(t, tc.offer, answer, n, opts)
		})
	}
}

// checkAnswer asserts what holds for every successful answer: it parses, has
// one m= line per offered m= line, and ParseAnswer reads back the same
// negotiation, at our address.
func checkAnswer(t *testing.T, offer, answer []byte, n Negotiated, opts AnswerOptions) {
	t.Helper()
	off, err := parse(offer)
	if err != nil {
		t.Fatalf("offer does not parse: %v", err)
	}
	var ans pionsdp.SessionDescription
	if err := ans.Unmarshal(answer); err != nil {
		t.Fatalf("answer does not parse: %v\n%s", err, answer)
	}
	if len(ans.MediaDescriptions) != len(off.MediaDescriptions) {
		t.Errorf("answer has %d m= lines, offer %d (RFC 3264 §6)", len(ans.MediaDescriptions), len(off.MediaDescriptions))
	}
	back, err := ParseAnswer(answer)
	if err != nil {
		t.Fatalf("ParseAnswer(our answer) error = %v\n%s", err, answer)
	}
	want := Negotiated{Codec: n.Codec, DTMFPT: n.DTMFPT, Remote: netip.AddrPortFrom(opts.Addr.Addr().Unmap(), opts.Addr.Port()), Ptime: Ptime,
		Direction: n.Direction.mirror()}
	if back != want {
		t.Errorf("ParseAnswer(our answer) = %+v, want %+v", back, want)
	}
}

func TestAnswer_InvalidLocalAddress(t *testing.T) {
	t.Parallel()
	for _, addr := range []netip.AddrPort{{}, netip.MustParseAddrPort("127.0.0.1:0"), netip.MustParseAddrPort("0.0.0.0:4000")} {
		_, _, err := Answer(offerWith("m=audio 49170 RTP/AVP 0"), AnswerOptions{Addr: addr})
		if err == nil || errors.Is(err, ErrMalformed) || errors.Is(err, ErrNoCommonCodec) {
			t.Errorf("Answer(local %v) error = %v, want a non-sentinel error", addr, err)
		}
	}
}

func TestOffer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts OfferOptions
		want []byte
	}{
		{
			name: "defaults with dtmf",
			opts: OfferOptions{Addr: local, DTMF: true, SessionID: 5},
			want: sdpText(
				"v=0",
				"o=- 5 5 IN IP4 127.0.0.1",
				"s=Hotline",
				"c=IN IP4 127.0.0.1",
				"t=0 0",
				"m=audio 40000 RTP/AVP 0 8 101",
				"a=rtpmap:0 PCMU/8000",
				"a=rtpmap:8 PCMA/8000",
				"a=rtpmap:101 telephone-event/8000",
				"a=fmtp:101 0-16",
				"a=ptime:20",
				"a=sendrecv",
			),
		},
		{
			name: "pcma only without dtmf, unknown and duplicate names skipped",
			opts: OfferOptions{Addr: local, Codecs: []media.CodecName{"G729", media.PCMA, media.PCMA}, SessionID: 6},
			want: sdpText(
				"v=0",
				"o=- 6 6 IN IP4 127.0.0.1",
				"s=Hotline",
				"c=IN IP4 127.0.0.1",
				"t=0 0",
				"m=audio 40000 RTP/AVP 8",
				"a=rtpmap:8 PCMA/8000",
				"a=ptime:20",
				"a=sendrecv",
			),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Offer(tc.opts); string(got) != string(tc.want) {
				t.Errorf("Offer() =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestOfferAnswer_RoundTrip(t *testing.T) {
	t.Parallel()
	phone := netip.MustParseAddrPort("127.0.0.1:30000")
	tests := []struct {
		name        string
		phoneCodecs []media.CodecName
		dtmf        bool
		ivrCodecs   []media.CodecName
		want        media.Codec
		wantDTMF    uint8
	}{
		{"defaults", nil, true, nil, media.CodecPCMU, 101},
		{"phone pcma only", []media.CodecName{media.PCMA}, false, nil, media.CodecPCMA, 0},
		{"ivr prefers pcma", nil, true, []media.CodecName{media.PCMA}, media.CodecPCMA, 101},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			offer := Offer(OfferOptions{Addr: phone, Codecs: tc.phoneCodecs, DTMF: tc.dtmf, SessionID: 1})
			answer, n, err := Answer(offer, AnswerOptions{Addr: local, Codecs: tc.ivrCodecs, SessionID: 2})
			if err != nil {
				t.Fatal(err)
			}
			if n.Codec != tc.want || n.DTMFPT != tc.wantDTMF || n.Remote != phone {
				t.Errorf("Answer() negotiated %+v, want codec %v dtmf %d remote %v", n, tc.want, tc.wantDTMF, phone)
			}
			got, err := ParseAnswer(answer)
			if err != nil {
				t.Fatal(err)
			}
			if want := (Negotiated{Codec: tc.want, DTMFPT: tc.wantDTMF, Remote: local, Ptime: 20}); got != want {
				t.Errorf("ParseAnswer() = %+v, want %+v", got, want)
			}
		})
	}
}

func TestParseAnswer(t *testing.T) {
	t.Parallel()
	peer := netip.MustParseAddrPort("192.0.2.10:49170")
	tests := []struct {
		name    string
		answer  []byte
		want    Negotiated
		wantErr error
	}{
		{
			name:   "pcma with dtmf and ptime",
			answer: offerWith("m=audio 49170 RTP/AVP 8 101", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000", "a=ptime:30"),
			want:   Negotiated{Codec: media.CodecPCMA, DTMFPT: 101, Remote: peer, Ptime: 30},
		},
		{
			name:   "answerer's first supported format wins",
			answer: offerWith("m=audio 49170 RTP/AVP 18 0 8"),
			want:   Negotiated{Codec: media.CodecPCMU, Remote: peer, Ptime: 20},
		},
		{
			name:   "bad ptime defaults",
			answer: offerWith("m=audio 49170 RTP/AVP 0", "a=ptime:abc"),
			want:   Negotiated{Codec: media.CodecPCMU, Remote: peer, Ptime: 20},
		},
		{name: "audio rejected", answer: offerWith("m=audio 0 RTP/AVP 0"), wantErr: ErrNoCommonCodec},
		{name: "no g.711", answer: offerWith("m=audio 49170 RTP/AVP 18"), wantErr: ErrNoCommonCodec},
		{name: "missing c=", answer: sdpText("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "t=0 0", "m=audio 49170 RTP/AVP 0"), wantErr: ErrMalformed},
		{name: "garbage", answer: []byte("\x00\x01SIP/2.0"), wantErr: ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAnswer(tc.answer)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("ParseAnswer() error = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("ParseAnswer() = %+v, want %+v", got, tc.want)
			}
		})
	}
}
