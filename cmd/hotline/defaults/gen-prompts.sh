#!/usr/bin/env bash
# Regenerates the demo prompts from prompts.tsv: Mandarin (espeak-ng -v cmn), a short pause,
# then English (espeak-ng -v en-us), as 8 kHz mono µ-law WAV files in prompts/.
# Needs espeak-ng and sox (Debian packages). Run from anywhere: `make prompts`.
# Sections: demo, digits, numbers (numbers and queue announcements), moh; name some to
# regenerate only those (`gen-prompts.sh numbers moh`), none for all. The output is the same
# on every run on one machine; another build of espeak-ng or sox may differ in the last bits.
set -euo pipefail
sections=("$@")
want() { # section: true when it is to be generated
	[ ${#sections[@]} -eq 0 ] && return 0
	local s
	for s in "${sections[@]}"; do [ "$s" = "$1" ] && return 0; done
	return 1
}
here=$(cd "$(dirname "$0")" && pwd)
out="$here/prompts"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
if want demo; then
while IFS=$'\t' read -r name zh en; do
	case "$name" in ''|'#'*) continue ;; esac
	espeak-ng -v cmn -s 165 -w "$tmp/zh.wav" "$zh"
	espeak-ng -v en-us -s 165 -w "$tmp/en.wav" "$en"
	sox -n -r 22050 -c 1 -b 16 "$tmp/gap.wav" trim 0 0.4
	sox -D "$tmp/zh.wav" "$tmp/gap.wav" "$tmp/en.wav" -r 8000 -c 1 -e u-law -b 8 "$out/$name.wav" norm -3
	echo "$name.wav $(soxi -D "$out/$name.wav")s"
done < "$here/prompts.tsv"
fi

# Digit prompts for read-backs (account numbers, reference numbers, queue positions), one
# set per language: prompts/digits/<lang>/<0-9>.wav.
if want digits; then
zh_digits=(零 一 二 三 四 五 六 七 八 九)
en_digits=(zero one two three four five six seven eight nine)
mkdir -p "$out/digits/zh-CN" "$out/digits/en"
for i in $(seq 0 9); do
	espeak-ng -v cmn -s 170 -w "$tmp/d.wav" "${zh_digits[$i]}"
	sox -D "$tmp/d.wav" -r 8000 -c 1 -e u-law -b 8 "$out/digits/zh-CN/$i.wav" norm -3
	espeak-ng -v en-us -s 170 -w "$tmp/d.wav" "${en_digits[$i]}"
	sox -D "$tmp/d.wav" -r 8000 -c 1 -e u-law -b 8 "$out/digits/en/$i.wav" norm -3
done
echo "digits: $(ls "$out"/digits/*/*.wav | wc -l) files"
fi

# Number words and queue announcements, for media.SayNumber, SayPosition and SayWait (the
# naming scheme is documented in media/say.go): prompts/numbers/<lang>/<word>.wav and
# prompts/queue/<lang>/<phrase>.wav. Words are spoken back to back, so the silence espeak-ng
# leaves around them is trimmed and a short pause added after each.
if want numbers; then
word() { # voice text out.wav
	espeak-ng -v "$1" -s 165 -w "$tmp/w.wav" "$2"
	sox -D "$tmp/w.wav" -r 8000 -c 1 -e u-law -b 8 "$3" \
		silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0.02 0.08 norm -3
}
en_numbers=(zero one two three four five six seven eight nine ten eleven twelve thirteen
	fourteen fifteen sixteen seventeen eighteen nineteen twenty)
mkdir -p "$out/numbers/en" "$out/numbers/zh-CN" "$out/queue/en" "$out/queue/zh-CN"
for i in $(seq 0 20); do word en-us "${en_numbers[$i]}" "$out/numbers/en/$i.wav"; done
en_tens=(thirty forty fifty sixty seventy eighty ninety)
for i in $(seq 0 6); do word en-us "${en_tens[$i]}" "$out/numbers/en/$(((i + 3) * 10)).wav"; done
word en-us hundred "$out/numbers/en/hundred.wav"
word en-us thousand "$out/numbers/en/thousand.wav"
zh_numbers=(零 一 二 三 四 五 六 七 八 九 十)
for i in $(seq 0 10); do word cmn "${zh_numbers[$i]}" "$out/numbers/zh-CN/$i.wav"; done
word cmn 百 "$out/numbers/zh-CN/hundred.wav"
word cmn 千 "$out/numbers/zh-CN/thousand.wav"
word cmn 两 "$out/numbers/zh-CN/liang.wav"
while IFS='|' read -r lang name text; do
	case "$lang" in en) voice=en-us ;; zh-CN) voice=cmn ;; *) continue ;; esac
	word "$voice" "$text" "$out/queue/$lang/$name.wav"
done <<'PHRASES'
en|caller_number|You are caller number
en|wait_is|Your estimated wait is
en|less_than|less than
en|minute|minute
en|minutes|minutes
en|please_hold|Please hold. An agent will be with you shortly.
en|callback_offer|To be called back, press 1. You will keep your place in the queue. To keep waiting, press 2.
en|callback_confirmed|Thank you. We will call you back as soon as an agent is free. Goodbye.
en|connecting|Connecting you to an agent.
en|callback_enter_number|Please enter the number we should call you back on, then press hash. To keep waiting, press star.
en|callback_refused|Sorry, we cannot call back that number. Please keep holding, you keep your place.
en|callback_you_entered|You entered
en|callback_confirm_number|If this is correct, press 1. To enter it again, press 2.
en|overload_offer|We are sorry, all our lines are busy. If you lost your phone, press 9 to freeze your account now. To be called back, keeping your place in line, press 1.
en|agent_ready|You are ready for calls.
en|agent_paused|You are paused. No calls will ring.
en|agent_logged_out|You are logged out.
en|agent_unknown|This phone is not a registered agent.
zh-CN|position_before|您现在排在第
zh-CN|position_after|位
zh-CN|wait_is|预计等待时间
zh-CN|less_than|不到
zh-CN|minutes|分钟
zh-CN|please_hold|请稍候，客服人员将尽快为您服务。
zh-CN|callback_offer|如需回电，请按1，我们会为您保留排队位置。继续等待，请按2。
zh-CN|callback_confirmed|谢谢，客服人员空闲时我们会给您回电。再见。
zh-CN|connecting|正在为您转接客服人员。
zh-CN|callback_enter_number|请输入回电号码，以井号键结束。继续等待，请按星号键。
zh-CN|callback_refused|抱歉，我们无法回拨该号码。请继续等待，您的排队位置不变。
zh-CN|callback_you_entered|您输入的号码是
zh-CN|callback_confirm_number|确认请按1，重新输入请按2。
zh-CN|overload_offer|抱歉，所有线路正忙。如果您的手机丢失，请按9立即冻结账户。如需回电并保留排队位置，请按1。
PHRASES
echo "numbers: $(ls "$out"/numbers/*/*.wav | wc -l) files, queue: $(ls "$out"/queue/*/*.wav | wc -l) files"
fi

# Music on hold: a 20 s loop of four chords (Cmaj7 Am7 Fmaj7 G7), each a soft sine pad that
# swells in and out under a plucked arpeggio, synthesised by sox (no third-party recording, so
# no royalties), mixed at 48 kHz (pluck needs it), then µ-law at 8 kHz with its RMS level set
# to -20 dBFS. Chord boundaries are quiet, so the end joins the start seamlessly.
if want moh; then
pad() { # out.wav notes...
	local o=$1 args=()
	shift
	for n in "$@"; do args+=(sine "$n"); done
	sox -R -D -r 48000 -c $# -n -c 1 "$o" synth 5 "${args[@]}" remix - fade h 1.2 5 1.2
}
arpeggio() { # out.wav notes... (half a second each)
	local o=$1 parts=() i=0
	shift
	for n in "$@"; do
		sox -R -D -r 48000 -c 1 -n "$tmp/n$i.wav" synth 0.5 pluck "$n" fade q 0.005 0.5 0.2
		parts+=("$tmp/n$i.wav")
		i=$((i + 1))
	done
	sox -R -D "${parts[@]}" "$o"
}
pad "$tmp/p1.wav" C3 E3 G3 B3 && arpeggio "$tmp/a1.wav" C4 E4 G4 B4 C5 B4 G4 E4 G4 E4
pad "$tmp/p2.wav" A2 C3 E3 G3 && arpeggio "$tmp/a2.wav" A3 C4 E4 G4 A4 G4 E4 C4 E4 C4
pad "$tmp/p3.wav" F2 A2 C3 E3 && arpeggio "$tmp/a3.wav" F3 A3 C4 E4 F4 E4 C4 A3 C4 A3
pad "$tmp/p4.wav" G2 B2 D3 F3 && arpeggio "$tmp/a4.wav" G3 B3 D4 F4 G4 F4 D4 B3 D4 B3
sox -R -D "$tmp"/p[1-4].wav "$tmp/pad.wav"
sox -R -D "$tmp"/a[1-4].wav "$tmp/arp.wav"
sox -R -D -m -v 0.25 "$tmp/pad.wav" -v 0.6 "$tmp/arp.wav" -r 8000 "$tmp/mix.wav"
rms=$(sox "$tmp/mix.wav" -n stats 2>&1 | awk '/RMS lev dB/ {print $4}')
sox -R -D "$tmp/mix.wav" -e u-law -b 8 "$out/moh.wav" gain "$(awk -v r="$rms" 'BEGIN {printf "%.2f", -20 - r}')"
echo "moh.wav $(soxi -D "$out/moh.wav")s, $(sox "$out/moh.wav" -n stats 2>&1 | awk '/RMS lev dB/ {print "RMS " $4 " dBFS"} /Pk lev dB/ {print "peak " $4 " dBFS"}' | paste -sd, -)"
fi
