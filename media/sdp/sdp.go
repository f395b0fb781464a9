package sdp

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	pionsdp "github.com/pion/sdp/v3"

	"github.com/hotline-ivr/hotline/media"
)

// Errors callers branch on: the SIP layer answers ErrNoCommonCodec with
// 488 Not Acceptable Here and ErrMalformed with 400 Bad Request.
var (
	ErrNoCommonCodec = errors.New("no common codec")
	ErrMalformed     = errors.New("malformed sdp")
)

// Ptime is the packet time in milliseconds that Hotline sends and asks for
// (RFC 4566 §6 a=ptime).
const Ptime = 20

// offerDTMFPT is the dynamic payload type Offer uses for telephone-event.
const offerDTMFPT uint8 = 101

// defaultCodecs is the codec preference used when options name none.
func defaultCodecs() []media.CodecName { return []media.CodecName{media.PCMU, media.PCMA} }

// Negotiated is the outcome of an offer/answer exchange for the audio stream.
type Negotiated struct {
	// Codec is the audio codec with the payload type the peer uses for it.
	Codec media.Codec
	// DTMFPT is the telephone-event payload type (RFC 4733), 0 if not
	// negotiated.
	DTMFPT uint8
	// Remote is where the peer receives RTP (c= and m= lines).
	Remote netip.AddrPort
	// Ptime is the packet time in milliseconds.
	Ptime int
	// Direction is our side of the stream (RFC 3264 §6.1): the direction of
	// our answer (Answer), or the mirror of the peer's answer to our
	// sendrecv offer (ParseAnswer, ParseAnswerTo). Sends tells whether we
	// may send RTP; the peer holds us when we may not.
	Direction Direction
}

// Direction is a media stream's direction attribute (RFC 3264 §5.1), seen
// from the side that writes it. The zero value is SendRecv.
type Direction uint8

// The four directions of RFC 3264 §5.1.
const (
	SendRecv Direction = iota
	SendOnly
	RecvOnly
	Inactive
)

// Sends reports whether the side with direction d may send RTP.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly }

// String returns the SDP attribute name, e.g. "sendonly".
func (d Direction) String() string {
	switch d {
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	}
	return "sendrecv"
}

// mirror returns the direction that answers d (RFC 3264 §6.1): sendonly
// gets recvonly and the reverse; sendrecv and inactive stay.
func (d Direction) mirror() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	}
	return d
}

// Origin is the o= line of the SDP one side sends during a call (RFC 4566
// §5.2), kept for the whole call so that every SDP of ours has the same
// session id and a version that goes up by one when the SDP changes (RFC
// 3264 §8). The rule: an SDP that differs from the last one sent with this
// Origin in anything but its o= line gets the next version; an identical
// one (a session refresh answered with the same answer, the same offer sent
// again) keeps the version, as §8 allows only for an unchanged SDP. So one
// version always names one SDP. The first SDP's version is ID.
//
// The zero value is usable (session id 0); set ID once, before the first
// SDP, e.g. from the clock. An Origin is not safe for concurrent use; copy
// it to roll back when an SDP built with it is not sent after all.
type Origin struct {
	// ID is the session id.
	ID uint64
	// Version is the version of the last SDP stamped, valid once one was.
	Version uint64
	last    []byte // the last SDP stamped, o= line excluded
	used    bool
}

// stamp returns the o= fields (session id and version) for an SDP whose
// lines other than o= are rest, and remembers rest.
func (o *Origin) stamp(rest []byte) (id, version uint64) {
	switch {
	case !o.used:
		o.used, o.Version = true, o.ID
	case !bytes.Equal(rest, o.last):
		o.Version++
	}
	o.last = bytes.Clone(rest)
	return o.ID, o.Version
}

// AnswerOptions configures Answer.
type AnswerOptions struct {
	// Addr is our RTP address, put in the answer's c= and m= lines.
	Addr netip.AddrPort
	// Codecs is our preference, best first; nil means PCMU then PCMA. Names
	// other than PCMU and PCMA are ignored.
	Codecs []media.CodecName
	// SessionID is the o= line's session id and version, when Origin is nil.
	SessionID uint64
	// Origin, when set, is the call's origin: the answer's o= line is
	// stamped with it (see Origin), and it is updated.
	Origin *Origin
}

// Answer answers an SDP offer (RFC 3264 §6). It takes the first audio m= line
// with a non-zero port and RTP/AVP, picks the first codec of o.Codecs that
// this line offers (static PT 0 and 8 need no rtpmap; dynamic ones are
// matched by rtpmap name, case-insensitively, at 8000 Hz), and accepts
// telephone-event/8000 at the payload type offered on this line. The answer
// keeps one m= line per offered m= line; every other line is rejected with
// port 0. The direction mirrors the offer's (sendonly gets recvonly).
//
// Errors wrap ErrMalformed when the offer does not parse or its audio
// stream has no usable unicast IP address (c= missing, 0.0.0.0 hold,
// a host name or multicast), and ErrNoCommonCodec when no audio stream
// fits or it offers none of our codecs; the message lists what was offered.
func Answer(offer []byte, o AnswerOptions) (answer []byte, n Negotiated, err error) {
	if !o.Addr.IsValid() || o.Addr.Port() == 0 || o.Addr.Addr().IsUnspecified() {
		return nil, Negotiated{}, fmt.Errorf("sdp answer: invalid local address %v", o.Addr)
	}
	sd, err := parse(offer)
	if err != nil {
		return nil, Negotiated{}, err
	}
	idx := audioStream(sd)
	if idx < 0 {
		return nil, Negotiated{}, fmt.Errorf("%w: offer has no active RTP/AVP audio stream (%s)", ErrNoCommonCodec, describeStreams(sd))
	}
	md := sd.MediaDescriptions[idx]
	s := readStream(md)
	prefs := o.Codecs
	if prefs == nil {
		prefs = defaultCodecs()
	}
	codec, ok := s.pick(prefs)
	if !ok {
		return nil, Negotiated{}, fmt.Errorf("%w: audio stream offers %s; we support %s", ErrNoCommonCodec, s.describe(), joinNames(prefs))
	}
	remote, err := remoteAddr(sd, md)
	if err != nil {
		return nil, Negotiated{}, err
	}
	dir := direction(sd, md).mirror()
	n = Negotiated{Codec: codec, DTMFPT: s.dtmf(codec.PT), Remote: remote, Ptime: Ptime, Direction: dir}

	var b builder
	b.session(o.Addr.Addr())
	for i, m := range sd.MediaDescriptions {
		if i != idx {
			// RFC 3264 §6: a rejected stream keeps its line, with port 0.
			b.line("m=%s 0 %s %s", m.MediaName.Media, strings.Join(m.MediaName.Protos, "/"), strings.Join(m.MediaName.Formats, " "))
			continue
		}
		b.audio(o.Addr.Port(), n.Codec, n.DTMFPT, dir)
	}
	return b.finish(o.Origin, o.SessionID), n, nil
}

// OfferOptions configures Offer.
type OfferOptions struct {
	// Addr is our RTP address.
	Addr netip.AddrPort
	// Codecs is our preference, best first; nil (or no supported name)
	// means PCMU then PCMA. Names other than PCMU and PCMA are ignored.
	Codecs []media.CodecName
	// DTMF adds telephone-event/8000 at payload type 101.
	DTMF bool
	// SessionID is the o= line's session id and version, when Origin is nil.
	SessionID uint64
	// Origin, when set, is the call's origin: the offer's o= line is stamped
	// with it (see Origin), and it is updated.
	Origin *Origin
}

// Offer returns an SDP offer for one sendrecv RTP/AVP audio stream with the
// static payload types of o.Codecs (PCMU 0, PCMA 8).
func Offer(o OfferOptions) []byte {
	var codecs []media.Codec
	for _, name := range o.Codecs {
		if c, ok := staticCodec(name); ok && !slices.Contains(codecs, c) {
			codecs = append(codecs, c)
		}
	}
	if len(codecs) == 0 {
		codecs = []media.Codec{media.CodecPCMU, media.CodecPCMA}
	}
	var b builder
	b.session(o.Addr.Addr())
	fmts := make([]string, 0, len(codecs)+1)
	for _, c := range codecs {
		fmts = append(fmts, strconv.Itoa(int(c.PT)))
	}
	if o.DTMF {
		fmts = append(fmts, strconv.Itoa(int(offerDTMFPT)))
	}
	b.line("m=audio %d RTP/AVP %s", o.Addr.Port(), strings.Join(fmts, " "))
	for _, c := range codecs {
		b.line("a=rtpmap:%d %s/%d", c.PT, c.Name, media.ClockRate)
	}
	if o.DTMF {
		b.dtmf(offerDTMFPT)
	}
	b.line("a=ptime:%d", Ptime)
	b.line("a=sendrecv")
	return b.finish(o.Origin, o.SessionID)
}

// ParseAnswer reads the peer's answer to our Offer: the first audio m= line
// with a non-zero port and RTP/AVP, its first PCMU or PCMA format (the
// answerer's choice), its telephone-event/8000 payload type and its a=ptime
// (default Ptime). Errors wrap ErrMalformed or ErrNoCommonCodec as in Answer.
func ParseAnswer(answer []byte) (Negotiated, error) {
	sd, err := parse(answer)
	if err != nil {
		return Negotiated{}, err
	}
	idx := audioStream(sd)
	if idx < 0 {
		return Negotiated{}, fmt.Errorf("%w: answer has no active RTP/AVP audio stream (%s)", ErrNoCommonCodec, describeStreams(sd))
	}
	md := sd.MediaDescriptions[idx]
	s := readStream(md)
	codec, ok := s.first()
	if !ok {
		return Negotiated{}, fmt.Errorf("%w: answer's audio stream has %s; we support %s", ErrNoCommonCodec, s.describe(), joinNames(defaultCodecs()))
	}
	remote, err := remoteAddr(sd, md)
	if err != nil {
		return Negotiated{}, err
	}
	return Negotiated{Codec: codec, DTMFPT: s.dtmf(codec.PT), Remote: remote, Ptime: ptime(sd, md),
		Direction: direction(sd, md).mirror()}, nil
}

// ParseAnswerTo reads the peer's answer to offer, an Offer of ours (RFC 3264
// §6 seen from the offerer): the answer's m= line in the place of the
// offer's audio stream must be audio, RTP/AVP, with a non-zero port (port 0
// rejects it), and name a codec the offer has (by encoding, at the
// answerer's payload type: RFC 3264 §6.1 only recommends keeping ours). The
// first such format is the codec; telephone-event counts only when the offer
// has it. Direction is the mirror of the answer's (a sendonly answer holds
// us: we may not send). This is how a late offer (the INVITE had no SDP, our
// 200 offered, the ACK answers) and an offer of ours in a re-INVITE's 200 are
// completed. Errors wrap ErrMalformed (either does not parse, the answer's
// m= lines do not match the offer's, an unusable address) or
// ErrNoCommonCodec (the stream rejected, no offered codec).
func ParseAnswerTo(offer, answer []byte) (Negotiated, error) {
	osd, err := parse(offer)
	if err != nil {
		return Negotiated{}, fmt.Errorf("our offer: %w", err)
	}
	idx := audioStream(osd)
	if idx < 0 {
		return Negotiated{}, fmt.Errorf("%w: our offer has no audio stream", ErrMalformed)
	}
	sd, err := parse(answer)
	if err != nil {
		return Negotiated{}, err
	}
	if len(sd.MediaDescriptions) != len(osd.MediaDescriptions) {
		return Negotiated{}, fmt.Errorf("%w: answer has %d m= lines, the offer %d (RFC 3264 §6)", ErrMalformed,
			len(sd.MediaDescriptions), len(osd.MediaDescriptions))
	}
	md := sd.MediaDescriptions[idx]
	mn := md.MediaName
	switch {
	case mn.Media != "audio":
		return Negotiated{}, fmt.Errorf("%w: answer has m=%s where the offer has audio", ErrMalformed, mn.Media)
	case mn.Port.Value == 0:
		return Negotiated{}, fmt.Errorf("%w: answer rejects the audio stream (port 0)", ErrNoCommonCodec)
	case !slices.Equal(mn.Protos, []string{"RTP", "AVP"}):
		return Negotiated{}, fmt.Errorf("%w: answer's audio stream is %s, the offer RTP/AVP", ErrMalformed, strings.Join(mn.Protos, "/"))
	}
	ours := readStream(osd.MediaDescriptions[idx])
	var offered []media.CodecName
	for _, pt := range ours.pts {
		if c, ok := ours.codec(pt); ok && !slices.Contains(offered, c.Name) {
			offered = append(offered, c.Name)
		}
	}
	s := readStream(md)
	var codec media.Codec
	ok := false
	for _, pt := range s.pts { // the answerer's choice first; formats we never offered skipped
		if codec, ok = s.codec(pt); ok && slices.Contains(offered, codec.Name) {
			break
		}
		ok = false
	}
	if !ok {
		return Negotiated{}, fmt.Errorf("%w: answer's audio stream has %s; we offered %s", ErrNoCommonCodec, s.describe(), joinNames(offered))
	}
	remote, err := remoteAddr(sd, md)
	if err != nil {
		return Negotiated{}, err
	}
	var dtmfPT uint8
	if ours.dtmf(0) != 0 {
		dtmfPT = s.dtmf(codec.PT)
	}
	return Negotiated{Codec: codec, DTMFPT: dtmfPT, Remote: remote, Ptime: ptime(sd, md),
		Direction: direction(sd, md).mirror()}, nil
}

// parse unmarshals an SDP body with pion, tolerating a missing final line
// break.
func parse(b []byte) (*pionsdp.SessionDescription, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if b[len(b)-1] != '\n' {
		b = append(slices.Clip(b), '\r', '\n')
	}
	var sd pionsdp.SessionDescription
	if err := sd.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(sd.MediaDescriptions) == 0 {
		return nil, fmt.Errorf("%w: no m= line", ErrMalformed)
	}
	return &sd, nil
}

// audioStream returns the index of the first audio m= line we can use, or -1.
func audioStream(sd *pionsdp.SessionDescription) int {
	for i, md := range sd.MediaDescriptions {
		mn := md.MediaName
		if mn.Media == "audio" && mn.Port.Value != 0 && slices.Equal(mn.Protos, []string{"RTP", "AVP"}) {
			return i
		}
	}
	return -1
}

func describeStreams(sd *pionsdp.SessionDescription) string {
	parts := make([]string, 0, len(sd.MediaDescriptions))
	for _, md := range sd.MediaDescriptions {
		mn := md.MediaName
		parts = append(parts, fmt.Sprintf("m=%s %d %s", mn.Media, mn.Port.Value, strings.Join(mn.Protos, "/")))
	}
	return strings.Join(parts, ", ")
}

// encoding is a payload format: the rtpmap of one payload type (RFC 4566 §6),
// or the static assignment of RFC 3551 §6.
type encoding struct {
	name     string
	clock    int
	channels int // 0 = not given (1)
}

func (e encoding) String() string {
	if e.name == "" {
		return "?"
	}
	s := e.name + "/" + strconv.Itoa(e.clock)
	if e.channels > 1 {
		s += "/" + strconv.Itoa(e.channels)
	}
	return s
}

// staticEncodings are the audio payload types of RFC 3551 §6 (table 4).
var staticEncodings = map[uint8]encoding{
	0: {"PCMU", 8000, 1}, 3: {"GSM", 8000, 1}, 4: {"G723", 8000, 1},
	5: {"DVI4", 8000, 1}, 6: {"DVI4", 16000, 1}, 7: {"LPC", 8000, 1},
	8: {"PCMA", 8000, 1}, 9: {"G722", 8000, 1}, 10: {"L16", 44100, 2},
	11: {"L16", 44100, 1}, 12: {"QCELP", 8000, 1}, 13: {"CN", 8000, 1},
	14: {"MPA", 90000, 0}, 15: {"G728", 8000, 1}, 16: {"DVI4", 11025, 1},
	17: {"DVI4", 22050, 1}, 18: {"G729", 8000, 1},
}

// stream is one m= line's payload formats, in offered order, with their
// encodings taken from that line's own rtpmap attributes only.
type stream struct {
	pts  []uint8
	encs map[uint8]encoding
}

func readStream(md *pionsdp.MediaDescription) stream {
	s := stream{encs: map[uint8]encoding{}}
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue // not an RTP payload type (RFC 3551 §3: 0-127)
		}
		s.pts = append(s.pts, uint8(pt))
		if e, ok := staticEncodings[uint8(pt)]; ok {
			s.encs[uint8(pt)] = e
		}
	}
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, e, ok := parseRtpmap(a.Value)
		if ok && slices.Contains(s.pts, pt) {
			s.encs[pt] = e
		}
	}
	return s
}

// parseRtpmap parses "<payload type> <encoding name>/<clock rate>[/<channels>]".
func parseRtpmap(v string) (uint8, encoding, bool) {
	f := strings.Fields(v)
	if len(f) != 2 {
		return 0, encoding{}, false
	}
	pt, err := strconv.ParseUint(f[0], 10, 7)
	if err != nil {
		return 0, encoding{}, false
	}
	parts := strings.Split(f[1], "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return 0, encoding{}, false
	}
	clock, err := strconv.Atoi(parts[1])
	if err != nil || clock <= 0 {
		return 0, encoding{}, false
	}
	e := encoding{name: parts[0], clock: clock}
	if len(parts) == 3 {
		if e.channels, err = strconv.Atoi(parts[2]); err != nil {
			return 0, encoding{}, false
		}
	}
	return uint8(pt), e, true
}

// codec reports whether payload type pt carries G.711 we support.
func (s stream) codec(pt uint8) (media.Codec, bool) {
	e, ok := s.encs[pt]
	if !ok || e.clock != media.ClockRate || e.channels > 1 {
		return media.Codec{}, false
	}
	for _, name := range []media.CodecName{media.PCMU, media.PCMA} {
		if strings.EqualFold(e.name, string(name)) {
			return media.Codec{Name: name, PT: pt}, true
		}
	}
	return media.Codec{}, false
}

// pick returns the first codec of prefs that the stream offers, at the
// stream's first payload type for it.
func (s stream) pick(prefs []media.CodecName) (media.Codec, bool) {
	for _, name := range prefs {
		for _, pt := range s.pts {
			if c, ok := s.codec(pt); ok && c.Name == name {
				return c, true
			}
		}
	}
	return media.Codec{}, false
}

// first returns the stream's first supported codec (an answerer lists its
// choice first).
func (s stream) first() (media.Codec, bool) {
	for _, pt := range s.pts {
		if c, ok := s.codec(pt); ok {
			return c, true
		}
	}
	return media.Codec{}, false
}

// dtmf returns the stream's telephone-event/8000 payload type, or 0.
func (s stream) dtmf(codecPT uint8) uint8 {
	for _, pt := range s.pts {
		e := s.encs[pt]
		if pt != 0 && pt != codecPT && e.clock == media.ClockRate && strings.EqualFold(e.name, "telephone-event") {
			return pt
		}
	}
	return 0
}

func (s stream) describe() string {
	if len(s.pts) == 0 {
		return "no payload types"
	}
	parts := make([]string, len(s.pts))
	for i, pt := range s.pts {
		parts[i] = strconv.Itoa(int(pt)) + " " + s.encs[pt].String()
	}
	return strings.Join(parts, ", ")
}

func joinNames(names []media.CodecName) string {
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = string(n)
	}
	return strings.Join(s, ", ")
}

func staticCodec(name media.CodecName) (media.Codec, bool) {
	switch name {
	case media.PCMU:
		return media.CodecPCMU, true
	case media.PCMA:
		return media.CodecPCMA, true
	}
	return media.Codec{}, false
}

// remoteAddr returns where the stream md receives RTP: its own c= line, else
// the session's (RFC 4566 §5.7), and its m= port.
func remoteAddr(sd *pionsdp.SessionDescription, md *pionsdp.MediaDescription) (netip.AddrPort, error) {
	ci := md.ConnectionInformation
	if ci == nil {
		ci = sd.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return netip.AddrPort{}, fmt.Errorf("%w: no connection address (c=) for the audio stream", ErrMalformed)
	}
	raw := ci.Address.Address
	a, err := netip.ParseAddr(raw)
	switch {
	case err != nil:
		return netip.AddrPort{}, fmt.Errorf("%w: connection address %q is not an IP address", ErrMalformed, raw)
	case a.Zone() != "":
		return netip.AddrPort{}, fmt.Errorf("%w: connection address %q has a zone", ErrMalformed, raw)
	case ci.AddressType == "IP4" && !a.Is4(), ci.AddressType == "IP6" && !a.Is6():
		return netip.AddrPort{}, fmt.Errorf("%w: connection address %q is not %s", ErrMalformed, raw, ci.AddressType)
	case a.IsUnspecified():
		// RFC 3264 §8.4 describes the old 0.0.0.0 hold; not supported.
		return netip.AddrPort{}, fmt.Errorf("%w: connection address %s (hold) is not supported", ErrMalformed, raw)
	case a.IsMulticast():
		return netip.AddrPort{}, fmt.Errorf("%w: multicast connection address %s is not supported", ErrMalformed, raw)
	}
	return netip.AddrPortFrom(a, uint16(md.MediaName.Port.Value)), nil
}

// direction returns md's direction attribute, else the session's, else
// sendrecv (RFC 3264 §5.1).
func direction(sd *pionsdp.SessionDescription, md *pionsdp.MediaDescription) Direction {
	for _, attrs := range [][]pionsdp.Attribute{md.Attributes, sd.Attributes} {
		for _, a := range attrs {
			switch a.Key {
			case "sendrecv":
				return SendRecv
			case "sendonly":
				return SendOnly
			case "recvonly":
				return RecvOnly
			case "inactive":
				return Inactive
			}
		}
	}
	return SendRecv
}

// ptime returns md's a=ptime, else the session's, else Ptime.
func ptime(sd *pionsdp.SessionDescription, md *pionsdp.MediaDescription) int {
	v, ok := md.Attribute("ptime")
	if !ok {
		v, ok = sd.Attribute("ptime")
	}
	if !ok {
		return Ptime
	}
	ms, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || ms <= 0 || ms > 1000 {
		return Ptime
	}
	return ms
}

// builder writes SDP lines ending in CRLF (RFC 4566 §5). The o= line is
// written last, by finish, once the rest is known (see Origin).
type builder struct {
	b      bytes.Buffer
	origin string // "IN <af> <address>" of the o= line
}

func (b *builder) line(format string, args ...any) {
	fmt.Fprintf(&b.b, format, args...)
	// A rejected m= line without formats would end in a space.
	for b.b.Len() > 0 && b.b.Bytes()[b.b.Len()-1] == ' ' {
		b.b.Truncate(b.b.Len() - 1)
	}
	b.b.WriteString("\r\n")
}

// session writes the session lines after v= and o= (see finish).
func (b *builder) session(ip netip.Addr) {
	ip = ip.Unmap()
	af := "IP4"
	if ip.Is6() {
		af = "IP6"
	}
	b.origin = "IN " + af + " " + ip.String()
	b.line("s=Hotline")
	b.line("c=IN %s %s", af, ip)
	b.line("t=0 0")
}

func (b *builder) audio(port uint16, c media.Codec, dtmfPT uint8, dir Direction) {
	if dtmfPT != 0 {
		b.line("m=audio %d RTP/AVP %d %d", port, c.PT, dtmfPT)
	} else {
		b.line("m=audio %d RTP/AVP %d", port, c.PT)
	}
	b.line("a=rtpmap:%d %s/%d", c.PT, c.Name, media.ClockRate)
	if dtmfPT != 0 {
		b.dtmf(dtmfPT)
	}
	b.line("a=ptime:%d", Ptime)
	b.line("a=%s", dir)
}

// dtmf writes telephone-event for the 16 DTMF events (RFC 4733 §7.1.1).
func (b *builder) dtmf(pt uint8) {
	b.line("a=rtpmap:%d telephone-event/%d", pt, media.ClockRate)
	b.line("a=fmtp:%d 0-16", pt)
}

// finish returns the SDP: v=, the o= line stamped by o (or with id as
// session id and version when o is nil), then the lines written.
func (b *builder) finish(o *Origin, id uint64) []byte {
	rest := b.b.Bytes()
	version := id
	if o != nil {
		// The o= address is part of what must not change under one version.
		id, version = o.stamp(append([]byte(b.origin+"\r\n"), rest...))
	}
	var out bytes.Buffer
	out.Grow(len(rest) + 64)
	fmt.Fprintf(&out, "v=0\r\no=- %d %d %s\r\n", id, version, b.origin)
	out.Write(rest)
	return out.Bytes()
}
