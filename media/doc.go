// Package media carries the audio of one call leg: RTP over UDP (RFC 3550),
// G.711 µ-law and A-law (ITU-T G.711, RFC 3551 §4.5.14), prompt playback,
// and RFC 4733 telephone-event DTMF in both directions.
//
// A [Session] owns one RTP socket with exactly two goroutines: a reader,
// which latches onto one source (symmetric RTP), reports key presses on
// [Session.Digits] and hands audio payloads to a callback, and a writer
// paced at 20 ms that sends one 160-byte G.711 frame per packet, silence
// when nothing plays. Neither blocks on the call goroutine and neither
// allocates per packet. [Prompt] values are decoded from WAV once, encoded
// once to both codecs, and shared read-only by every call.
// [DTMFReceiver] is the pure RFC 4733 receive state machine used by Session.
//
// Latching is hardened against hijack: the address the far end's SDP names
// wins as soon as it speaks, and stays; until then a source on that
// address's IP or on SessionConfig.PeerIP (the address the call's control
// channel came from: a NAT's public address), on any port, may be latched,
// and replaced by another such source only after 2 s of silence; any other
// source is never latched, and its packets, audio and key presses are
// dropped unparsed and counted (SessionStats.PacketsForeign). A session
// started with SessionConfig.Muted, or muted by [Session.SetMuted], sends
// nothing at all, so that nothing streams to an address before the far end
// has confirmed the session; it still receives, and its clock and playback
// go on.
//
// In-band DTMF: [InbandDetector] finds key presses in decoded audio to the
// receiver limits of TELEPHONY.md (Goertzel filters, frequency measured from
// phase, talk-off guards); a Session runs one with SessionConfig.Inband and
// reports its presses on Digits as ModeInband. [AppendDTMFTone] generates
// the tones to the same standard, and [Session.SendTone] sends them in the
// audio. [ParseInfoDTMF] reads the key press of a SIP INFO body, without
// knowing SIP.
//
// Hold and agent calls: [Session.Loop] plays music on hold over and over
// from the prompts' shared frames. [Bridge] connects two call legs, caller
// and agent: each leg's writer sends the audio the other leg receives,
// through a small queue per direction that never blocks a reader,
// transcoded between PCMU and PCMA by table lookup, and RFC 4733 key
// presses are re-sent on the other leg with its own payload type, sequence
// and clock (or as in-band tones). [SayNumber], [SayPosition], [SayWait]
// and [SayDigits] turn numbers into sequences of prompt names in English
// or Mandarin (the naming scheme is in say.go).
//
// media knows nothing of SIP: it must not import sipgo, nor the project's
// sip, ivr, menus or queue packages. SDP offer/answer lives in media/sdp.
package media
