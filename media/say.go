package media

import (
	"strconv"
	"strings"
	"time"
)

// Spoken numbers and queue announcements as sequences of prompt names, to
// play back to back. The functions are pure: they only build names.
//
// A prompt name is the path of its WAV file below the prompts directory,
// without ".wav" (cmd/hotline/defaults/gen-prompts.sh generates them all):
//
//	digits/<lang>/<0-9>        a digit read on its own (SayDigits)
//	numbers/<lang>/<word>      a number word (SayNumber):
//	    en:    0 … 20, 30, 40, … 90, hundred, thousand
//	    zh-CN: 0 … 10 (零 … 十), hundred (百), thousand (千), liang (两)
//	queue/<lang>/<phrase>      the words around them (SayPosition, SayWait):
//	    en:    caller_number "you are caller number", wait_is "your estimated
//	           wait is", less_than "less than", minute, minutes
//	    zh-CN: position_before "您现在排在第", position_after "位",
//	           wait_is "预计等待时间", less_than "不到", minutes "分钟"
//
// SayPrompts lists every name the functions return for a language.

// Languages with number prompts: the <lang> of their names.
const (
	LangEN = "en"
	LangZH = "zh-CN"
)

// MaxSayNumber is the largest number SayNumber speaks as a number; larger
// ones are read digit by digit.
const MaxSayNumber = 9999

// sayLang maps a language tag to one with prompts: en and en-*, zh and
// zh-* (Mandarin), case-insensitive.
func sayLang(lang string) (string, bool) {
	l := strings.ToLower(lang)
	switch {
	case l == "en" || strings.HasPrefix(l, "en-"):
		return LangEN, true
	case l == "zh" || strings.HasPrefix(l, "zh-") || l == "cmn":
		return LangZH, true
	}
	return "", false
}

// SayNumber returns the prompt names that speak n, 0 ≤ n ≤ MaxSayNumber, as
// a cardinal number in lang: en "one hundred twenty three" (no "and"),
// zh-CN 一百二十三, with 两 for a quantity of two (两, 两百, 两千, but 十二,
// 二十二, 一千二百). Larger n are read digit by digit from the number words; negative
// n and languages without prompts give nil.
func SayNumber(lang string, n int) []string {
	l, ok := sayLang(lang)
	if !ok || n < 0 {
		return nil
	}
	var w []string
	switch {
	case n > MaxSayNumber:
		for _, c := range strconv.Itoa(n) {
			w = append(w, strconv.Itoa(int(c-'0')))
		}
	case l == LangZH:
		w = zhNumber(w, n, true)
	default:
		w = enNumber(w, n)
	}
	return names("numbers/"+l+"/", w)
}

// SayDigits returns the prompt names that read the digits of s one by one
// in lang; other characters are skipped. Languages without prompts give
// nil.
func SayDigits(lang, s string) []string {
	l, ok := sayLang(lang)
	if !ok {
		return nil
	}
	var out []string
	for i := range len(s) {
		if c := s[i]; c >= '0' && c <= '9' {
			out = append(out, "digits/"+l+"/"+string(c))
		}
	}
	return out
}

// SayPosition returns the prompt names that announce a caller's place in
// the queue, n ≥ 1: en "you are caller number twenty three", zh-CN
// 您现在排在第二十三位 (an ordinal: 第二, not 第两). n < 1 and languages
// without prompts give nil.
func SayPosition(lang string, n int) []string {
	l, ok := sayLang(lang)
	if !ok || n < 1 {
		return nil
	}
	if l == LangEN {
		return append([]string{"queue/en/caller_number"}, SayNumber(l, n)...)
	}
	out := []string{"queue/zh-CN/position_before"}
	if n > MaxSayNumber {
		out = append(out, SayNumber(l, n)...)
	} else {
		out = append(out, names("numbers/zh-CN/", zhNumber(nil, n, false))...)
	}
	return append(out, "queue/zh-CN/position_after")
}

// SayWait returns the prompt names that announce an estimated wait of d,
// in whole minutes rounded to the nearest: en "your estimated wait is
// three minutes" ("one minute"), zh-CN 预计等待时间三分钟; under a minute,
// en "less than one minute", zh-CN 不到一分钟. Negative d counts as zero.
// Languages without prompts give nil.
func SayWait(lang string, d time.Duration) []string {
	l, ok := sayLang(lang)
	if !ok {
		return nil
	}
	q := "queue/" + l + "/"
	out := []string{q + "wait_is"}
	m := int((d + 30*time.Second) / time.Minute)
	if d < time.Minute {
		out = append(out, q+"less_than", "numbers/"+l+"/1")
		m = 1
	} else {
		out = append(out, SayNumber(l, m)...)
	}
	switch {
	case l == LangZH:
		return append(out, q+"minutes")
	case m == 1:
		return append(out, q+"minute")
	}
	return append(out, q+"minutes")
}

// SayPrompts returns every prompt name the Say functions can return for
// lang, sorted by kind (digits, numbers, queue), or nil.
func SayPrompts(lang string) []string {
	l, ok := sayLang(lang)
	if !ok {
		return nil
	}
	var out []string
	for d := range 10 {
		out = append(out, "digits/"+l+"/"+strconv.Itoa(d))
	}
	var words, phrases []string
	if l == LangEN {
		for n := range 21 {
			words = append(words, strconv.Itoa(n))
		}
		for n := 30; n < 100; n += 10 {
			words = append(words, strconv.Itoa(n))
		}
		words = append(words, "hundred", "thousand")
		phrases = []string{"caller_number", "wait_is", "less_than", "minute", "minutes"}
	} else {
		for n := range 11 {
			words = append(words, strconv.Itoa(n))
		}
		words = append(words, "hundred", "thousand", "liang")
		phrases = []string{"position_before", "position_after", "wait_is", "less_than", "minutes"}
	}
	out = append(out, names("numbers/"+l+"/", words)...)
	return append(out, names("queue/"+l+"/", phrases)...)
}

func names(prefix string, words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = prefix + w
	}
	return out
}

// enNumber appends the English words of 0 ≤ n ≤ 9999.
func enNumber(w []string, n int) []string {
	if n == 0 {
		return append(w, "0")
	}
	if n >= 1000 {
		w = append(w, strconv.Itoa(n/1000), "thousand")
		n %= 1000
	}
	if n >= 100 {
		w = append(w, strconv.Itoa(n/100), "hundred")
		n %= 100
	}
	switch {
	case n == 0:
	case n <= 20:
		w = append(w, strconv.Itoa(n))
	default:
		w = append(w, strconv.Itoa(n/10*10))
		if n%10 != 0 {
			w = append(w, strconv.Itoa(n%10))
		}
	}
	return w
}

// zhNumber appends the Mandarin words of 0 ≤ n ≤ 9999: 零 for each run of
// zeros inside the number (一千零五, 一百零一, 一千零一十), none at its end
// (一千二百), 十 without 一 at the start (十二) and with it inside
// (一百一十). With count, a two standing alone or leading before 百 or 千
// is 两 (两, 两百, 两千二百).
func zhNumber(w []string, n int, count bool) []string {
	if n == 0 {
		return append(w, "0")
	}
	digit := func(d int, unit bool) string {
		if d == 2 && count && unit {
			return "liang"
		}
		return strconv.Itoa(d)
	}
	if n == 2 {
		return append(w, digit(2, true))
	}
	if n < 20 {
		if n >= 10 {
			w = append(w, "10")
		}
		if n%10 != 0 {
			w = append(w, strconv.Itoa(n%10))
		}
		return w
	}
	units := [...]struct {
		value int
		word  string
	}{{1000, "thousand"}, {100, "hundred"}, {10, "10"}, {1, ""}}
	zero := false // a zero digit since the last word
	started := false
	for _, u := range units {
		d := n / u.value % 10
		if d == 0 {
			zero = zero || started
			continue
		}
		if zero {
			w = append(w, "0")
			zero = false
		}
		w = append(w, digit(d, u.value >= 100 && !started))
		if u.word != "" {
			w = append(w, u.word)
		}
		started = true
	}
	return w
}
