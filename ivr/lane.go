package ivr

import (
	"strings"
	"time"
)

// The freeze lane's dialogue is pure logic, like the menu machine (STYLE.md §7.1): the call
// goroutine feeds it events and performs what it returns. It identifies the account (by
// caller ID, else by the number the caller keys in and confirms), optionally asks an extra
// check, asks for the freeze, then reads the reference back digit by digit.

// Prompt names the freeze lane plays (menus.prompts entries; see README "freeze").
const (
	PromptFreezeAskAccount = "freeze_ask_account" // "enter your account number, then press hash"
	PromptFreezeYouEntered = "freeze_you_entered" // "you entered"
	PromptFreezeConfirm    = "freeze_confirm"     // "press 1 if correct, 2 to enter it again"
	PromptFreezeAskCheck   = "freeze_ask_check"   // "enter the last 4 digits of your ID"
	PromptFreezeDone       = "freeze_done"        // "your account is frozen; your reference number is"
	PromptFreezeUnknown    = "freeze_unknown"     // "we could not find that account"
	PromptFreezeRefused    = "freeze_refused"     // "we cannot freeze ... now; please call again later" (rate limit)
	PromptFreezeWrongCheck = "freeze_wrong_check" // "those digits do not match our records"
	PromptFreezeFailed     = "freeze_failed"      // "a technical fault; please hold / call again"
	PromptFreezeGoodbye    = "freeze_goodbye"     // "goodbye"
	PromptFreezeOfferAgent = "freeze_offer_agent" // "to speak to someone now, press 1" (with a recovery queue)
)

// lanePrompts are the prompts the lane needs when it is enabled.
var lanePrompts = []string{PromptFreezeAskAccount, PromptFreezeYouEntered, PromptFreezeConfirm,
	PromptFreezeAskCheck, PromptFreezeDone, PromptFreezeUnknown, PromptFreezeRefused,
	PromptFreezeWrongCheck, PromptFreezeFailed, PromptFreezeGoodbye}

type laneState int

const (
	laneIdle laneState = iota
	laneAccount
	laneConfirm
	laneCheck
	laneFreezing
	laneOffer // frozen; offering a person (the recovery queue)
	laneEnding
)

// laneAct is one thing the lane asks the call to do.
type laneAct struct {
	Play    []string      // prompts (and "digit:N" read-backs, see digitPrompt) to play, replacing any
	Stop    bool          // stop the current playback first (barge-in)
	Timer   time.Duration // arm the lane's timer (0: leave it)
	Lookup  string        // look this account number up; answer with laneLookedUp
	Admit   string        // check this account's rate limits before anything is compared; answer with admitted
	Freeze  string        // freeze this account now; answer with laneFrozen
	Verify  string        // the caller's check digits; answer with laneVerified
	Hangup  string        // outcome: hang up once playback ends
	Audit   string        // refusal reason to audit, if any
	Enqueue bool          // join the recovery queue (the caller pressed 1 after the freeze)
}

// laneDigitPrefix marks a read-back digit in Play: "digit:7".
const laneDigitPrefix = "digit:"

type lane struct {
	checkDigits int           // 0: no extra check
	offerAgent  bool          // a recovery queue is configured: offer a person after the freeze
	timeout     time.Duration // how long to wait for keys
	maxTries    int

	state   laneState
	account string // identified account
	entry   strings.Builder
	tries   int
}

func newLane(checkDigits int, timeout time.Duration) *lane {
	if timeout == 0 {
		timeout = 8 * time.Second
	}
	return &lane{checkDigits: checkDigits, timeout: timeout, maxTries: 3}
}

// start begins the lane: account is the caller-ID match ("" when none or several).
func (l *lane) start(account string) laneAct {
	if account != "" {
		l.account = account
		return l.afterIdentified()
	}
	return l.askAccount(nil)
}

func (l *lane) askAccount(before []string) laneAct {
	l.state = laneAccount
	l.entry.Reset()
	return laneAct{Play: append(before, PromptFreezeAskAccount), Timer: l.timeout}
}

// afterIdentified asks for the account's rate limits first: a refused attempt must be told
// before any check is compared, or the refusal itself would say that a guess was right.
func (l *lane) afterIdentified() laneAct {
	l.state = laneFreezing
	return laneAct{Admit: l.account}
}

// admitted answers an Admit: refused names the limit reached, "" lets the attempt go on to
// the check (or straight to the freeze).
func (l *lane) admitted(refused string) laneAct {
	if refused != "" {
		return l.end([]string{PromptFreezeRefused, PromptFreezeGoodbye}, OutcomeFreezeRefused, refused)
	}
	if l.checkDigits > 0 {
		l.state = laneCheck
		l.entry.Reset()
		return laneAct{Play: []string{PromptFreezeAskCheck}, Timer: l.timeout}
	}
	l.state = laneFreezing
	return laneAct{Freeze: l.account}
}

// digit handles a key press.
func (l *lane) digit(k byte) laneAct {
	switch l.state {
	case laneAccount:
		if k == '#' || l.entry.Len() >= 20 {
			if l.entry.Len() == 0 {
				return l.askAccount(nil)
			}
			l.state = laneConfirm
			play := []string{PromptFreezeYouEntered}
			for _, d := range l.entry.String() {
				play = append(play, laneDigitPrefix+string(d))
			}
			return laneAct{Stop: true, Play: append(play, PromptFreezeConfirm), Timer: l.timeout}
		}
		if k >= '0' && k <= '9' {
			l.entry.WriteByte(k)
			return laneAct{Stop: l.entry.Len() == 1, Timer: l.timeout}
		}
		return laneAct{}
	case laneConfirm:
		switch k {
		case '1':
			l.state = laneFreezing
			return laneAct{Stop: true, Lookup: l.entry.String()}
		case '2':
			return l.retry(nil, "")
		}
		return laneAct{}
	case laneOffer:
		if k == '1' {
			l.state = laneEnding
			return laneAct{Stop: true, Enqueue: true}
		}
		return laneAct{}
	case laneCheck:
		if k >= '0' && k <= '9' {
			l.entry.WriteByte(k)
			if l.entry.Len() == l.checkDigits {
				l.state = laneFreezing
				return laneAct{Stop: true, Verify: l.entry.String()}
			}
			return laneAct{Stop: l.entry.Len() == 1, Timer: l.timeout}
		}
		return laneAct{}
	}
	return laneAct{}
}

// retry asks for the account again, or ends the call after too many tries.
func (l *lane) retry(before []string, reason string) laneAct {
	l.tries++
	if l.tries >= l.maxTries {
		return l.end(append(before, PromptFreezeGoodbye), OutcomeFreezeRefused, reason)
	}
	a := l.askAccount(before)
	a.Stop, a.Audit = true, reason
	return a
}

func (l *lane) end(play []string, outcome, audit string) laneAct {
	l.state = laneEnding
	return laneAct{Stop: true, Play: play, Hangup: outcome, Audit: audit}
}

// timeout handles the lane's timer: no key in time.
func (l *lane) timedOut() laneAct {
	switch l.state {
	case laneAccount, laneConfirm:
		if l.state == laneAccount && l.entry.Len() > 0 {
			return l.digit('#') // a pause after some digits ends the entry
		}
		return l.retry(nil, "")
	case laneCheck:
		return l.end([]string{PromptFreezeWrongCheck, PromptFreezeGoodbye}, OutcomeFreezeRefused, "no-check")
	case laneOffer:
		return l.end([]string{PromptFreezeGoodbye}, OutcomeFrozen, "")
	}
	return laneAct{}
}

// lookedUp answers a Lookup: whether the account number exists.
func (l *lane) lookedUp(account string, ok bool) laneAct {
	if !ok {
		l.state = laneAccount
		return l.retry([]string{PromptFreezeUnknown}, "unknown-account")
	}
	l.account = account
	return l.afterIdentified()
}

// verified answers a Verify.
func (l *lane) verified(ok bool) laneAct {
	if !ok {
		return l.end([]string{PromptFreezeWrongCheck, PromptFreezeGoodbye}, OutcomeFreezeRefused, "wrong-check")
	}
	l.state = laneFreezing
	return laneAct{Freeze: l.account}
}

// frozen answers a Freeze: the durable reference, or why it was refused.
func (l *lane) frozen(reference, refused string, failed bool) laneAct {
	switch {
	case failed:
		return l.end([]string{PromptFreezeFailed, PromptFreezeGoodbye}, OutcomeFreezeFailed, "")
	case refused != "":
		return l.end([]string{PromptFreezeRefused, PromptFreezeGoodbye}, OutcomeFreezeRefused, refused)
	}
	play := []string{PromptFreezeDone}
	for _, d := range reference {
		play = append(play, laneDigitPrefix+string(d))
	}
	if l.offerAgent {
		l.state = laneOffer
		return laneAct{Play: append(play, PromptFreezeOfferAgent), Timer: l.timeout}
	}
	a := l.end(append(play, PromptFreezeGoodbye), OutcomeFrozen, "")
	a.Stop = false // the confirmation starts at once; nothing else is playing
	return a
}
