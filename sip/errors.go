package sip

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. They are the causes put on a call's context, so callers
// branch on them with errors.Is(context.Cause(ctx), ErrHangup).
var (
	// ErrHangup is the cause of a leg the remote party ended with BYE.
	ErrHangup = errors.New("sip: remote hangup")
	// ErrCanceled is the cause of a leg the caller canceled (CANCEL)
	// before it was answered.
	ErrCanceled = errors.New("sip: call canceled")
	// ErrServerClosed is the cause of calls in progress when the server
	// stops, and the error Serve* return once the server has stopped.
	ErrServerClosed = errors.New("sip: server closed")
	// ErrMaxDuration is the cause of a call the server ended (BYE) because it lasted
	// Config.MaxCallDuration.
	ErrMaxDuration = errors.New("sip: maximum call duration reached")
	// ErrSessionExpired is the cause of a call the server ended (BYE) because its RFC 4028
	// session was not refreshed in time (or our refresh got 408, 481 or no answer).
	ErrSessionExpired = errors.New("sip: session expired")
	// ErrNotRegistered is returned by Server.Dial for a target user with
	// no live registration.
	ErrNotRegistered = errors.New("sip: user not registered")
)

// Unexported causes: callers do not branch on them (rule B4).
var (
	errLocalHangup = errors.New("sip: local hangup")
	errNoACK       = errors.New("no ACK for 2xx within 64*T1")
	errDialogDone  = errors.New("dialog ended")
)

// RejectError is a final (non-2xx) SIP response. A Handler returns it before
// answering to choose the response sent to the caller, e.g.
// &RejectError{Code: 488} when no codec is common; Server.Dial returns it
// when the called party answers with a final non-2xx response.
type RejectError struct {
	Code   int    // SIP status code, 300-699
	Reason string // reason phrase; empty means the standard phrase for Code
	Err    error  // underlying cause, if any
	// RetryAfter, for a 503 (or 486, 600, 603), is sent as Retry-After (RFC 3261 §20.33);
	// a 503 without it says 5 s.
	RetryAfter time.Duration
}

// Error implements error.
func (e *RejectError) Error() string {
	s := fmt.Sprintf("sip: rejected with %d %s", e.Code, e.reason())
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *RejectError) Unwrap() error { return e.Err }

func (e *RejectError) reason() string {
	if e.Reason != "" {
		return e.Reason
	}
	return statusText(e.Code)
}

// finalFor maps the error a handler ended a call with (before answering) to
// the final response: *RejectError -> its code, nil -> 480,
// ErrServerClosed -> 503, anything else -> 500.
func finalFor(err error) (int, string) {
	var re *RejectError
	switch {
	case errors.As(err, &re) && re.Code >= 300 && re.Code <= 699:
		return re.Code, re.reason()
	case err == nil || errors.Is(err, errLocalHangup):
		return 480, statusText(480)
	case errors.Is(err, ErrServerClosed):
		return 503, statusText(503)
	default:
		return 500, statusText(500)
	}
}

// statusText returns the RFC 3261 §21 reason phrase for code.
func statusText(code int) string {
	if s, ok := reasons[code]; ok {
		return s
	}
	switch {
	case code < 200:
		return "Session Progress"
	case code < 300:
		return "OK"
	case code < 400:
		return "Redirection"
	case code < 500:
		return "Request Failure"
	case code < 600:
		return "Server Error"
	default:
		return "Global Failure"
	}
}

var reasons = map[int]string{
	100: "Trying",
	180: "Ringing",
	183: "Session Progress",
	200: "OK",
	202: "Accepted",
	400: "Bad Request",
	401: "Unauthorized",
	403: "Forbidden",
	404: "Not Found",
	405: "Method Not Allowed",
	407: "Proxy Authentication Required",
	408: "Request Timeout",
	415: "Unsupported Media Type",
	423: "Interval Too Brief",
	480: "Temporarily Unavailable",
	481: "Call/Transaction Does Not Exist",
	486: "Busy Here",
	487: "Request Terminated",
	488: "Not Acceptable Here",
	491: "Request Pending",
	500: "Server Internal Error",
	501: "Not Implemented",
	503: "Service Unavailable",
	603: "Decline",
}
