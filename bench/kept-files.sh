#!/usr/bin/env bash
# What a writer's earlier files cost on this machine (docs/benchmarks.md, "what kept files cost"):
# 1 GiB from bench/peers/flood.mjs into `nc -l 127.0.0.1 PORT > file`, four times with the files
# kept, then four times with each file deleted after its round. Prints MB/s per round.
#   bash bench/kept-files.sh [port]
set -euo pipefail
cd "$(dirname "$0")/.."
port=${1:-47123}
bytes=$((1024 * 1024 * 1024))
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
round() {
  nc -l 127.0.0.1 "$port" >"$1" &
  local listener=$!
  sleep 0.3
  local start end
  start=$(date +%s.%N)
  node bench/peers/flood.mjs --port "$port" --bytes "$bytes" >/dev/null
  wait "$listener"
  end=$(date +%s.%N)
  python3 -c "print('  %s: %.0f MB/s' % ('$2', $bytes / 1e6 / ($end - $start)))"
}
echo "files kept:"
for i in 1 2 3 4; do round "$dir/kept-$i" "round $i"; done
rm -f "$dir"/kept-*
echo "each file deleted after its round:"
for i in 1 2 3 4; do
  round "$dir/deleted-$i" "round $i"
  rm -f "$dir/deleted-$i"
done
