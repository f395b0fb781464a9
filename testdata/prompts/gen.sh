#!/usr/bin/env bash
# Short test prompts for the end-to-end tests: one spoken word or two each, 8 kHz mono
# µ-law WAV, so a whole menu walk takes a few seconds. Needs espeak-ng and sox.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
while read -r name words; do
	espeak-ng -v en-us -s 260 -w "$tmp/a.wav" "$words"
	sox "$tmp/a.wav" -r 8000 -c 1 -e u-law -b 8 "$name.wav" norm -3
	echo "$name.wav $(soxi -D "$name.wav")s"
done <<'LIST'
main main menu
sub sub menu
info information
invalid invalid
timeout timeout
goodbye goodbye
LIST
