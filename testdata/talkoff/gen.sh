#!/usr/bin/env bash
# Talk-off corpus for the in-band DTMF detector (media/inband_test.go): speech and music that
# must produce no key press. Speech from espeak-ng in several languages and voices, music-like
# signals from sox synth; every file 8 kHz mono µ-law WAV, normalised loud (peak -1 dBFS), as a
# caller or a prompt echo would reach the detector. Needs espeak-ng and sox. Deterministic for a
# given espeak-ng/sox version (SoX 14.4.2, eSpeak NG 1.51 here); keep the total under 1.5 MB.
#
# `gen.sh large DIR` writes instead a large corpus to DIR, not to be committed: one English
# text read by 23 espeak-ng languages x 5 voice variants x 3 pitches (345 files, about 2.8
# hours, 80 MB), for `go test ./media -run TestInband_TalkOff -talkoff-large DIR`.
set -euo pipefail
# Repeatable: fixed seeds for sox's generators (pluck, noise, chorus) and no dither, so the same
# tools give the same bytes.
export SOX_OPTS="-R -D"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

if [ "${1:-}" = large ]; then
	dir=${2:?usage: gen.sh large DIR}
	mkdir -p "$dir"
	text="The quick brown fox jumps over the lazy dog. Numbers like one, two, three, four, five, six, seven, eight, nine and zero are spoken clearly. Please hold the line while we connect your call, and remember that our opening hours are from eight in the morning until six in the evening, Monday to Friday. Whistling, singing, and humming are common on telephone lines too, as are children shouting and dogs barking in the background."
	i=0
	for v in en-us en-gb de es fr it pt nl pl ru sv tr hi cmn yue vi ja ko ar el fi hu cs; do
		for var in "" +f1 +f3 +m3 +f5; do
			for p in 10 60 95; do
				i=$((i + 1))
				espeak-ng -v "$v$var" -p "$p" -s $((140 + (i * 7) % 80)) -w "$tmp/a.wav" "$text" 2>/dev/null || continue
				sox "$tmp/a.wav" -r 8000 -c 1 -e u-law -b 8 "$dir/s$i-$v$var-p$p.wav" norm -1
			done
		done
	done
	ls "$dir"/*.wav | wc -l
	exit 0
fi

cd "$(dirname "$0")"
rm -f ./*.wav

out() { # out NAME: convert $tmp/a.wav to NAME.wav
	sox "$tmp/a.wav" -r 8000 -c 1 -e u-law -b 8 "$1.wav" norm -1
	echo "$1.wav $(soxi -D "$1.wav")s"
}

# Speech: voice, pitch (0-99), words per minute, text.
while IFS='|' read -r name voice pitch speed text; do
	espeak-ng -v "$voice" -p "$pitch" -s "$speed" -w "$tmp/a.wav" "$text"
	out "$name"
done <<'LIST'
speech-en-us-m|en-us|40|165|Thank you for calling. Please listen carefully, as our menu options have changed. Your call is important to us, and the next available agent will be with you shortly.
speech-en-us-f|en-us+f3|70|175|Hello, this is Margaret. I would like to check the status of my order, the one I placed on Tuesday morning. My account number is four seven one, nine nine two, and the postcode is seventeen oh one.
speech-en-gb-low|en-gb+m3|15|150|Good evening. I am ringing about the heating engineer who was meant to arrive at nine. Nobody has turned up, and the boiler is still making that dreadful whistling noise.
speech-en-child|en-us+f5|95|190|Mummy, mummy! Can we have ice cream now? Please, please, please! I promise I will eat all of my dinner tomorrow, even the green beans and the broccoli.
speech-de|de|45|160|Guten Tag, Sie sind mit dem Kundenservice verbunden. Bitte halten Sie Ihre Vertragsnummer bereit. Wir sind montags bis freitags von acht bis achtzehn Uhr für Sie erreichbar.
speech-de-f|de+f2|65|170|Ich möchte gerne einen Termin vereinbaren, am liebsten nächste Woche am Donnerstagnachmittag. Geht das auch etwas später, so gegen halb fünf?
speech-es|es|50|170|Buenas tardes, gracias por llamar. Su llamada será atendida en breve. Si desea información sobre su factura, marque uno. Para hablar con un agente, espere en línea.
speech-es-f|es+f4|75|180|Mire, llevo tres semanas esperando la lavadora nueva y nadie me da una respuesta. ¿Me puede decir cuándo llega, por favor?
speech-fr|fr|45|165|Bonjour et bienvenue. Toutes nos lignes sont actuellement occupées. Veuillez patienter, un conseiller va prendre votre appel dans quelques instants.
speech-fr-f|fr+f1|70|175|Oui, bonjour, je vous appelle au sujet de ma réservation pour le vingt-deux juillet, deux chambres, trois nuits, avec petit déjeuner.
speech-cmn|cmn|50|160|您好，欢迎致电客户服务中心。查询账单请按一，人工服务请按零。感谢您的耐心等待。
speech-cmn-f|cmn+f3|75|170|喂，你好，我想问一下我的快递什么时候能到。订单号是六八三五，昨天就应该送到了。
speech-cmn-m|cmn+m4|20|150|今天天气很好，我们一起去公园散步吧。春天来了，花都开了。
LIST

# Music-like signals: plucked chords and arpeggios (rich harmonics), organ-like chords of pure
# sines with notes near DTMF frequencies (F5 698 Hz, G5 784, A#5 932, F#6 1480, G#6 1661 Hz)
# plus a third note, sweeps, square-wave melodies, a tremolo and a chorus.
seq_notes() { # seq_notes TYPE DURATION NOTES...: notes one after another into $tmp/a.wav
	local t=$1 d=$2; shift 2
	local parts=()
	for n in "$@"; do
		sox -n -r 8000 -c 1 "$tmp/n$n.wav" synth "$d" "$t" "$n" fade 0.005 "$d" 0.02
		parts+=("$tmp/n$n.wav")
	done
	sox "${parts[@]}" "$tmp/a.wav"
}
mix_chords() { # mix_chords TYPE DURATION "NOTES"...: chords one after another into $tmp/a.wav
	local t=$1 d=$2; shift 2
	local parts=() i=0
	for c in "$@"; do
		local args=()
		for n in $c; do args+=("$t" "$n"); done
		sox -n -r 8000 -c "$(wc -w <<<"$c")" "$tmp/ch$i.wav" synth "$d" "${args[@]}" fade 0.005 "$d" 0.05
		sox "$tmp/ch$i.wav" -c 1 "$tmp/m$i.wav" remix -
		parts+=("$tmp/m$i.wav"); i=$((i + 1))
	done
	sox "${parts[@]}" "$tmp/a.wav"
}

mix_chords pluck 0.6 "C4 E4 G4" "F4 A4 C5" "G4 B4 D5" "F5 A5 C6" "F5 F#6 A6" "G5 B5 D6" "A#5 D6 F6" "C5 E5 G5 C6" \
	"E5 G#6 B6" "D5 F#5 A5" "F5 G#6 C6" "G5 F#6 D6"
out music-pluck-chords
seq_notes pluck 0.18 C5 D5 E5 F5 G5 A5 B5 C6 D6 E6 F6 F#6 G6 G#6 A6 B6 C7 B6 A6 G6 F6 E6 D6 C6 B5 A5 G5 F5 E5 D5 C5
out music-pluck-arpeggio
mix_chords sine 0.5 "F5 F#6 A6" "G5 E6 C6" "A#5 F#6 D6" "F5 C6 G#6" "G5 D6 F#6" "A#5 F6 G#6" "F5 A5 F#6" "G5 B5 E6"
out music-sine-triads
mix_chords square 0.4 "F5" "G5" "A#5" "F#6" "G#6" "F5 F#6" "G5 E6" "A#5 G#6"
out music-square
sox -n -r 8000 -c 1 "$tmp/a.wav" synth 6 sine 200-3400
out music-sweep
sox -n -r 8000 -c 1 "$tmp/a.wav" synth 5 sawtooth 110-880 tremolo 6 60
out music-saw-tremolo
mix_chords triangle 0.7 "C4 G4 E5" "A3 E4 C5" "F3 C4 A4" "G3 D4 B4" "F5 A5 C6" "G5 B5 D6"
sox "$tmp/a.wav" "$tmp/b.wav" chorus 0.6 0.9 50 0.4 0.25 2 -t
mv "$tmp/b.wav" "$tmp/a.wav"
out music-triangle-chorus
sox -n -r 8000 -c 1 "$tmp/a.wav" synth 4 pinknoise band 1000 600 tremolo 3 80
out music-noise-band
du -cb ./*.wav | tail -1
