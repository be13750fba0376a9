#!/usr/bin/env bash
# Sustained webhook intake as deployed (issue 16, target 2): an open-loop client
# (bench/openloop-go: one request every 1/rate s on schedule, latency counted from when each
# was due) at fixed rates for DURATION seconds each, forwarding on to a local coaching sink
# that answers 200 at once. For each rate: answered-202 share, p50/p99/max, and the
# outbox lag (owed events, and the oldest one's age from
# genesys_sentiment_oldest_pending_delivery_age_seconds, sampled every 0.5 s), then how long
# the lag takes to reach 0 after the load stops. The baseline, measured in the same run: the
# original design's burst rate (bench/original-go under wrk, 64 connections, 10 s).
# Loopback only; every run bounded in count (rate x duration) and time.
# Usage: bench/sustained.sh [DURATION_SECONDS] [RATES...]   (needs wrk and golang-go)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
run_secs="${1:-30}"
shift || true
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(2000 5000 8000 11000 14000 17000 20000)
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }
command -v go >/dev/null || { echo "go is needed: apt-get install golang-go" >&2; exit 2; }
cargo build --release --locked -q
duration=10
# shellcheck source=wrk.sh
source bench/wrk.sh
bin="$PWD/target/release/genesys-sentiment"
bench_workdir
GOCACHE="$work/gocache" go build -o "$work/original" bench/original-go/main.go
GOCACHE="$work/gocache" go build -o "$work/openloop" bench/openloop-go/main.go

start_sink

# Baseline: the original design's burst rate (Go's default client, as the handler did).
go_port=$(free_port)
"$work/original" -listen "127.0.0.1:$go_port" -audit "$work/original.jsonl" -sink "$sink" -pool 0 >"$work/original.log" 2>&1 &
go_pid=$!; pids+=($go_pid)
wait_up "http://127.0.0.1:$go_port/"
read -r grps _ _ _ _ < <(wrk_run 64 "http://127.0.0.1:$go_port/webhooks/genesys" orig | wrk_parse)
kill "$go_pid"; wait "$go_pid" 2>/dev/null || true

port=$(free_port); admin=$(free_port)
serve_forwarding "$port" "$admin"
url="http://127.0.0.1:$port/webhooks/genesys"
# "owed oldest_age_seconds"
lag() { curl -s "http://127.0.0.1:$admin/metrics" | awk '/^genesys_sentiment_pending_deliveries /{p=int($2)} /^genesys_sentiment_oldest_pending_delivery_age_seconds /{a=int($2)} END{print p, a}'; }

echo "## Sustained intake (open loop, forwarding on)"
echo
echo "Command: \`bench/sustained.sh $run_secs ${rates[*]}\` (bench/openloop-go: requests sent on a fixed schedule, latency from when each was due; $run_secs s per rate; the coaching sink answers 200 at once; loopback). Baseline in the same run: the original design's burst rate under wrk (64 connections, 10 s): **${grps%.*} req/s**, so the target (3×) is $(python3 -c "print(round(3*$grps))") req/s."
echo
echo "| rate (req/s) | answered 202 | 503 | errors | p50 ms | p99 ms | max ms | most owed | oldest owed (s, max) | lag back to 0 after |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
best=0
for rate in "${rates[@]}"; do
  ( end=$(( $(date +%s) + run_secs )); while [ "$(date +%s)" -lt "$end" ]; do lag; sleep 0.5; done ) >"$work/lag.$rate" &
  sampler=$!
  result=$("$work/openloop" -url "$url" -rate "$rate" -duration "${run_secs}s" -label "r$rate")
  wait "$sampler" || true
  started=$(date +%s.%N)
  for _ in $(seq 1 600); do [ "$(lag | cut -d' ' -f1)" = 0 ] && break; sleep 0.1; done
  back=$(python3 -c "print(f'{$(date +%s.%N) - $started:.1f} s')")
  read -r most oldest < <(awk 'BEGIN{m=0;a=0} {if($1>m)m=$1; if($2>a)a=$2} END{print m, a}' "$work/lag.$rate")
  line=$(python3 - "$result" "$rate" "$most" "$oldest" "$back" <<'PY'
import json,sys
r=json.loads(sys.argv[1]); rate,most,oldest,back=sys.argv[2:]
ok = r["p99_ms"] <= 10 and int(oldest) < 1 and r["accepted"] == r["sent"]
print(f'| {rate} | {r["accepted"]}/{r["sent"]} | {r["shed_503"]} | {r["errors"]+r["other"]} | {r["p50_ms"]:.2f} | {r["p99_ms"]:.2f} | {r["max_ms"]:.1f} | {most} | {oldest} | {back} |' + ("" if ok else " ✗"))
print("OK" if ok else "NO")
PY
)
  echo "$line" | head -1
  [ "$(echo "$line" | tail -1)" = OK ] && best=$rate
done
echo
echo "Highest rate with every request answered 202, p99 ≤ 10 ms and no owed event older than 1 s: **$best req/s** = $(python3 -c "print(f'{$best/$grps:.2f}')")× the original design's burst rate (target ≥ 3×). Rows marked ✗ miss one of those."
