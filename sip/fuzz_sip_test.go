package sip

import (
	"errors"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

// FuzzParseMessage feeds bytes through sipgo's parser as the server's
// transports do: whole, as a datagram, and in two pieces, as a stream. It
// must never panic, nor must what the server does next with a parsed
// request (the edge checks, reading the header fields they read, writing
// the message out) or with the raw bytes (the TCP framer).
func FuzzParseMessage(f *testing.F) {
	for _, seed := range []string{
		"OPTIONS sip:ivr@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1;rport\r\n" +
			"From: <sip:a@b>;tag=1\r\nTo: <sip:ivr@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n" +
			"Content-Length: 0\r\n\r\n",
		"INVITE sip:ivr@h SIP/7.0\r\nv: SIP/2.0/TCP h;branch=z9hG4bK2\r\nf: a <sip:a@h>;tag=2\r\nt: sip:ivr@h\r\n" +
			"i: c2\r\nCSeq: 1 BYE\r\nm: <sip:a@h>\r\nc: application/sdp\r\nl: 5\r\n\r\nv=0\r\n",
		"ACK sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
		"REGISTER nobody:bob?Route=%3Csip:x%3E SIP/2.0\r\nRequire: 100rel, timer\r\nTO :\r\n sip:a@h ; tag = 1\r\n\r\n",
		"SIP/2.0 4294967301 big\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK3\r\nCSeq: 1 INVITE\r\n\r\n",
		"\r\n\r\n",
		"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n",
		"BYE sip:a@b SIP/2.0\r\nFrom: \"unterminated <sip:a@b>;tag=1\r\nX: \x00\x00\r\n\r\n",
	} {
		f.Add([]byte(seed), uint16(len(seed)/2))
	}
	parser := sipmsg.NewParser()
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		if msg, err := parser.ParseSIP(data); err == nil {
			exercise(t, msg)
		}

		split := int(cut) % (len(data) + 1)
		stream := parser.NewSIPStream()
		defer stream.Close()
		var fr framer
		for _, piece := range [][]byte{data[:split], data[split:]} {
			fr.feed(piece)
			err := stream.ParseSIPStream(piece, func(m sipmsg.Message) { exercise(t, m) })
			if err != nil && !errors.Is(err, sipmsg.ErrParseSipPartial) {
				break // the transport closes the connection here
			}
		}
		if fr.state == frameBody && fr.body <= 0 || fr.messages < 0 {
			t.Fatalf("framer state %d, body %d, messages %d", fr.state, fr.body, fr.messages)
		}
	})
}

func exercise(t *testing.T, msg sipmsg.Message) {
	t.Helper()
	if req, ok := msg.(*sipmsg.Request); ok {
		code, reason, _ := checkRequest(req)
		if code != 0 && code != 505 && code != 400 && code != 416 && code != 420 {
			t.Fatalf("checkRequest: %d %s", code, reason)
		}
		if code == 0 && (req.CallID() == nil || req.From() == nil || req.To() == nil || req.CSeq() == nil) {
			t.Fatalf("checkRequest passed a request without a mandatory header: %s", req)
		}
		_ = mediaType(req)
		_ = checkInvite(req)
	}
	_ = msg.String()
}
