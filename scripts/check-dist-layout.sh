#!/usr/bin/env bash
# Checks that a binary from scripts/build-dist.sh has its hot functions laid out first:
# of the text symbols whose names (hash removed) are on scripts/hot-functions.txt, at least
# 95% must be among the first 1.5 x that many text symbols (an unordered link puts about 70%
# there, spread over the whole binary). And that the list is not stale: at least 85% of the
# names on it must still be functions of the binary (else: sudo benches/hot-functions.sh).
#
#   scripts/check-dist-layout.sh BIN     (a stripped BIN: its symbols from BIN.debug)
set -euo pipefail
cd "$(dirname "$0")/.."
symbols=$1
[ -f "$1.debug" ] && symbols=$1.debug
nm -n --defined-only --demangle "$symbols" | awk -v list=scripts/hot-functions.txt '
  BEGIN { while ((getline name < list) > 0) if (!(name in hot)) { hot[name] = 1; listed++ } }
  $2 ~ /^[tTwW]$/ {
    text++; name = $0; sub(/^[^ ]+ [^ ]+ /, "", name); sub(/::h[0-9a-f]+$/, "", name)
    if (name in hot) {
      position[++found] = text
      if (!(name in present)) { present[name] = 1; names++ }
    }
  }
  END {
    front = 0
    for (k = 1; k <= found; k++) if (position[k] <= found * 1.5) front++
    printf "layout: %d of %d hot functions among the first %d of %d text symbols\n", front, found, found * 1.5, text
    printf "list: %d of its %d names are functions of the binary\n", names, listed
    if (names < listed * 0.85) print "the list is stale: regenerate it (sudo benches/hot-functions.sh)"
    exit (found > 0 && front >= found * 0.95 && names >= listed * 0.85) ? 0 : 1
  }'
