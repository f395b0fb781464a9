package media

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// words strips the common prefix of prompt names for readable tables:
// "numbers/en/20" -> "20", "queue/en/wait_is" -> "wait_is".
func words(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n[strings.LastIndexByte(n, '/')+1:]
	}
	return strings.Join(out, " ")
}

func TestSayNumber(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lang string
		n    int
		want string
	}{
		{"en", 0, "0"},
		{"en", 7, "7"},
		{"en", 13, "13"},
		{"en", 20, "20"},
		{"en", 23, "20 3"},
		{"en", 90, "90"},
		{"en", 100, "1 hundred"},
		{"en", 105, "1 hundred 5"},
		{"en", 119, "1 hundred 19"},
		{"en", 342, "3 hundred 40 2"},
		{"en", 1000, "1 thousand"},
		{"en", 2005, "2 thousand 5"},
		{"en", 9999, "9 thousand 9 hundred 90 9"},
		{"en", 12345, "1 2 3 4 5"},
		{"EN-us", 3, "3"},
		{"zh-CN", 0, "0"},
		{"zh-CN", 2, "liang"},
		{"zh-CN", 10, "10"},
		{"zh-CN", 12, "10 2"},
		{"zh-CN", 20, "2 10"},
		{"zh-CN", 23, "2 10 3"},
		{"zh-CN", 100, "1 hundred"},
		{"zh-CN", 101, "1 hundred 0 1"},
		{"zh-CN", 110, "1 hundred 1 10"},
		{"zh-CN", 200, "liang hundred"},
		{"zh-CN", 222, "liang hundred 2 10 2"},
		{"zh-CN", 1005, "1 thousand 0 5"},
		{"zh-CN", 1010, "1 thousand 0 1 10"},
		{"zh-CN", 1200, "1 thousand 2 hundred"},
		{"zh-CN", 2002, "liang thousand 0 2"},
		{"zh-CN", 9909, "9 thousand 9 hundred 0 9"},
		{"zh", 5, "5"},
	} {
		t.Run(tc.lang+"/"+strings.ReplaceAll(tc.want, " ", "_"), func(t *testing.T) {
			t.Parallel()
			got := SayNumber(tc.lang, tc.n)
			if words(got) != tc.want {
				t.Fatalf("SayNumber(%q, %d) = %v, want %q", tc.lang, tc.n, got, tc.want)
			}
			lang, _ := sayLang(tc.lang)
			for _, name := range got {
				if !strings.HasPrefix(name, "numbers/"+lang+"/") {
					t.Fatalf("name %q", name)
				}
			}
		})
	}
	if SayNumber("fr", 1) != nil || SayNumber("en", -1) != nil {
		t.Fatal("unknown language or negative number spoken")
	}
}

func TestSayPositionWaitDigits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{"position en", SayPosition("en", 23), []string{"queue/en/caller_number", "numbers/en/20", "numbers/en/3"}},
		{"position zh ordinal two", SayPosition("zh-CN", 2), []string{"queue/zh-CN/position_before", "numbers/zh-CN/2", "queue/zh-CN/position_after"}},
		{"position zh 23", SayPosition("zh-CN", 23), []string{"queue/zh-CN/position_before", "numbers/zh-CN/2", "numbers/zh-CN/10", "numbers/zh-CN/3", "queue/zh-CN/position_after"}},
		{"position zh 200", SayPosition("zh-CN", 200), []string{"queue/zh-CN/position_before", "numbers/zh-CN/2", "numbers/zh-CN/hundred", "queue/zh-CN/position_after"}},
		{"position zero", SayPosition("en", 0), nil},
		{"wait en under a minute", SayWait("en", 40*time.Second), []string{"queue/en/wait_is", "queue/en/less_than", "numbers/en/1", "queue/en/minute"}},
		{"wait en one", SayWait("en", 80*time.Second), []string{"queue/en/wait_is", "numbers/en/1", "queue/en/minute"}},
		{"wait en rounds", SayWait("en", 150*time.Second), []string{"queue/en/wait_is", "numbers/en/3", "queue/en/minutes"}},
		{"wait en negative", SayWait("en", -time.Second), []string{"queue/en/wait_is", "queue/en/less_than", "numbers/en/1", "queue/en/minute"}},
		{"wait zh two", SayWait("zh-CN", 2*time.Minute), []string{"queue/zh-CN/wait_is", "numbers/zh-CN/liang", "queue/zh-CN/minutes"}},
		{"wait zh under a minute", SayWait("zh-CN", time.Second), []string{"queue/zh-CN/wait_is", "queue/zh-CN/less_than", "numbers/zh-CN/1", "queue/zh-CN/minutes"}},
		{"wait zh 12", SayWait("zh-CN", 12*time.Minute), []string{"queue/zh-CN/wait_is", "numbers/zh-CN/10", "numbers/zh-CN/2", "queue/zh-CN/minutes"}},
		{"wait unknown language", SayWait("fr", time.Minute), nil},
		{"digits", SayDigits("en", "40-1"), []string{"digits/en/4", "digits/en/0", "digits/en/1"}},
		{"digits zh", SayDigits("zh-CN", "72"), []string{"digits/zh-CN/7", "digits/zh-CN/2"}},
		{"digits unknown language", SayDigits("fr", "1"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if !slices.Equal(tc.got, tc.want) {
				t.Fatalf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

// TestSayPrompts_CoverAndExist: every name the Say functions return is in
// SayPrompts, and every name of SayPrompts has its file among the
// generated default prompts.
func TestSayPrompts_CoverAndExist(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "cmd", "hotline", "defaults", "prompts")
	for _, lang := range []string{LangEN, LangZH} {
		all := SayPrompts(lang)
		check := func(names []string) {
			for _, n := range names {
				if !slices.Contains(all, n) {
					t.Fatalf("%s: %q not in SayPrompts", lang, n)
				}
			}
		}
		for n := range 10001 {
			check(SayNumber(lang, n))
		}
		for n := 1; n < 300; n++ {
			check(SayPosition(lang, n))
		}
		for m := range 100 {
			check(SayWait(lang, time.Duration(m)*time.Minute))
		}
		check(SayDigits(lang, "0123456789"))
		for _, n := range all {
			data, err := os.ReadFile(filepath.Join(dir, n+".wav"))
			if err != nil {
				t.Fatalf("%s: %v", lang, err)
			}
			p, err := DecodeWAV(n, data)
			if err != nil || p.Duration() == 0 || p.Duration() > 3*time.Second {
				t.Fatalf("%s: %v, %v", n, err, p.Duration())
			}
		}
	}
	if SayPrompts("fr") != nil {
		t.Fatal("prompts for an unknown language")
	}
}

// TestDefaultMOH: the music on hold decodes, loops in whole frames and is
// neither silent nor loud.
func TestDefaultMOH(t *testing.T) {
	t.Parallel()
	p, err := LoadWAV("moh", filepath.Join("..", "cmd", "hotline", "defaults", "prompts", "moh.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Duration() != 20*time.Second {
		t.Fatalf("duration %v", p.Duration())
	}
	var sum float64
	var peak int
	var n int
	for _, f := range p.Frames(PCMU) {
		for _, x := range decode(f, PCMU) {
			sum += float64(x) * float64(x)
			peak = max(peak, int(x), -int(x))
			n++
		}
	}
	rms := sum / float64(n)
	// -20 dBFS RMS is 3277 in 16 bits: allow a dB of quantisation.
	if rms < 2900*2900 || rms > 3700*3700 || peak > 32767/2 {
		t.Fatalf("mean square %.0f, peak %d", rms, peak)
	}
}
