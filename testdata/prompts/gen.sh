#!/usr/bin/env bash
# Short test prompts for the end-to-end tests: one spoken word or two each, 8 kHz mono
# µ-law WAV, so a whole menu walk takes a few seconds. Needs espeak-ng and sox.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
only=" $* "
while read -r name words; do
	[ "$only" = "  " ] || [[ "$only" == *" $name "* ]] || continue
	espeak-ng -v en-us -s 260 -w "$tmp/a.wav" "$words"
	sox -D "$tmp/a.wav" -r 8000 -c 1 -e u-law -b 8 "$name.wav" silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse norm -3
	echo "$name.wav $(soxi -D "$name.wav")s"
done <<'LIST'
main main menu
sub sub menu
info information
invalid invalid
timeout timeout
goodbye goodbye
freeze_ask_account account number please
freeze_you_entered you entered
freeze_confirm confirm
freeze_ask_check check digits
freeze_done frozen
freeze_unknown unknown
freeze_refused refused
freeze_wrong_check wrong
freeze_failed failed
freeze_goodbye bye bye
freeze_offer_agent press one for a person
digit_0 zero
digit_1 one
digit_2 two
digit_3 three
digit_4 four
digit_5 five
digit_6 six
digit_7 seven
digit_8 eight
digit_9 nine
LIST
