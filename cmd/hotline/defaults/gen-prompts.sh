#!/usr/bin/env bash
# Regenerates the demo prompts from prompts.tsv: Mandarin (espeak-ng -v cmn), a short pause,
# then English (espeak-ng -v en-us), as 8 kHz mono µ-law WAV files in prompts/.
# Needs espeak-ng and sox (Debian packages). Run from anywhere: `make prompts`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/prompts"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
while IFS=$'\t' read -r name zh en; do
	case "$name" in ''|'#'*) continue ;; esac
	espeak-ng -v cmn -s 165 -w "$tmp/zh.wav" "$zh"
	espeak-ng -v en-us -s 165 -w "$tmp/en.wav" "$en"
	sox -n -r 22050 -c 1 -b 16 "$tmp/gap.wav" trim 0 0.4
	sox -D "$tmp/zh.wav" "$tmp/gap.wav" "$tmp/en.wav" -r 8000 -c 1 -e u-law -b 8 "$out/$name.wav" norm -3
	echo "$name.wav $(soxi -D "$out/$name.wav")s"
done < "$here/prompts.tsv"

# Digit prompts for read-backs (account numbers, reference numbers, queue positions), one
# set per language: prompts/digits/<lang>/<0-9>.wav.
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
