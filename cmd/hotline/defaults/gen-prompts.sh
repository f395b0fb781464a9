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
	sox "$tmp/zh.wav" "$tmp/gap.wav" "$tmp/en.wav" -r 8000 -c 1 -e u-law -b 8 "$out/$name.wav" norm -3
	echo "$name.wav $(soxi -D "$out/$name.wav")s"
done < "$here/prompts.tsv"
