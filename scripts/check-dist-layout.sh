#!/usr/bin/env bash
# Checks that a binary from scripts/build-dist.sh has its hot functions laid out first:
# of the text symbols whose names (hash removed) are on scripts/hot-functions.txt, at least
# 95% must be among the first 1.5 x that many text symbols (an unordered link puts about 70%
# there, spread over the whole binary).
#
#   scripts/check-dist-layout.sh BIN
set -euo pipefail
cd "$(dirname "$0")/.."
nm -n --defined-only --demangle "$1" | awk -v list=scripts/hot-functions.txt '
  BEGIN { while ((getline name < list) > 0) hot[name] = 1 }
  $2 ~ /^[tTwW]$/ {
    text++; name = $0; sub(/^[^ ]+ [^ ]+ /, "", name); sub(/::h[0-9a-f]+$/, "", name)
    if (name in hot) position[++found] = text
  }
  END {
    front = 0
    for (k = 1; k <= found; k++) if (position[k] <= found * 1.5) front++
    printf "layout: %d of %d hot functions among the first %d of %d text symbols\n", front, found, found * 1.5, text
    exit (found > 0 && front >= found * 0.95) ? 0 : 1
  }'
