#!/usr/bin/env bash
# Webhook intake throughput and latency with durable acknowledgement (journal fsync before
# 202) at 1, 16 and 64 connections, against the same server answering without journaling
# (?validate=true: same auth, parsing and normalization, nothing stored). Loopback only;
# every run is bounded by DURATION.
# Usage: bench/webhooks.sh [DURATION_SECONDS]   (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
duration="${1:-10}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }
cargo build --release --locked -q
# shellcheck source=wrk.sh
source bench/wrk.sh
bin="$PWD/target/release/genesys-sentiment"
work="$(mktemp -d)"
trap 'kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
serve_bench "$work/daemon.log" \
  GENESYS_SENTIMENT__SERVER__LISTEN="127.0.0.1:$port" \
  GENESYS_SENTIMENT__JOURNAL__DIR="$work/journal"
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/webhooks/genesys"
rows=""
for c in 1 16 64; do
  read -r brps bp50 bp99 bbad _ < <(wrk_run "$c" "$url?validate=true" "base$c" | wrk_parse)
  read -r drps dp50 dp99 dbad _ < <(wrk_run "$c" "$url" "durable$c" | wrk_parse)
  ratio=$(python3 -c "print(f'{$drps/$brps:.2f}')")
  rows+="| $c | $(printf '%.0f' "$drps") | $(printf '%.2f' "$dp50") | $(printf '%.2f' "$dp99") | $(printf '%.0f' "$brps") | $(printf '%.2f' "$bp50") | $(printf '%.2f' "$bp99") | $ratio | $dbad |"$'\n'
  last_rps=$drps; last_p99=$dp99; last_ratio=$ratio
done
journaled=$("$bin" audit verify "$work/journal" | sed -n 's/journal OK: \([0-9]*\) records.*/\1/p')
cat <<MD
## Webhook intake with durable acknowledgement

Command: \`bench/webhooks.sh $duration\` (wrk, ${duration} s per run, loopback; every request a new event, so every 202 waited for an fsync; forwarding off)

| connections | durable req/s | p50 ms | p99 ms | baseline req/s (no journal) | p50 ms | p99 ms | ratio durable / baseline | non-2xx |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
$rows
Journal after the runs: $journaled records, \`audit verify\` OK.

Targets at 64 connections: ≥ 20 000 durable webhooks/s ($(printf '%.0f' "$last_rps")), p99 ≤ 10 ms ($(printf '%.2f' "$last_p99") ms), ≥ 0.5 of the no-journal baseline ($last_ratio).
MD
