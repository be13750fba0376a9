#!/usr/bin/env bash
# Webhook intake as deployed: forwarding on, to a local coaching sink that answers 200 at
# once, beside (a) the original design (bench/original-go: decode, normalize, append a line
# without fsync, POST to the sink synchronously, answer 200) and (b) the daemon's own
# no-journal path (?validate=true), all measured in this run. wrk closed loop, every request
# a new interaction in the seed's form. Reports accepted/s, p50/p99, the forwarder's lag
# (accepted, not yet delivered) sampled each second and at the end, the drain time, peak
# RSS, and journal bytes per accepted-and-delivered event. Loopback only; bounded runs.
# Usage: bench/deployed.sh [DURATION_SECONDS] [CONNECTIONS]   (needs wrk and golang-go)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
duration="${1:-10}"
conns="${2:-64}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }
command -v go >/dev/null || { echo "go is needed: apt-get install golang-go" >&2; exit 2; }
cargo build --release --locked -q
# shellcheck source=wrk.sh
source bench/wrk.sh
bin="$PWD/target/release/genesys-sentiment"
bench_workdir
GOCACHE="$work/gocache" go build -o "$work/original" bench/original-go/main.go

start_sink

# (a) The original design: Go's default HTTP client (http.Post, as the original handler
# did), then with a pool of 256 idle connections to the sink, for reference.
original() { # pool -> parsed wrk line
  local go_port; go_port=$(free_port)
  "$work/original" -listen "127.0.0.1:$go_port" -audit "$work/original.jsonl" -sink "$sink" -pool "$1" >"$work/original.log" 2>&1 &
  local go_pid=$!; pids+=($go_pid)
  wait_up "http://127.0.0.1:$go_port/"
  wrk_run "$conns" "http://127.0.0.1:$go_port/webhooks/genesys" "orig$1" | wrk_parse
  kill "$go_pid"; wait "$go_pid" 2>/dev/null || true
}
read -r grps gp50 gp99 gbad greq < <(original 0)
read -r trps tp50 tp99 tbad treq < <(original 256)

# The daemon, forwarding on.
port=$(free_port); admin=$(free_port)
serve_forwarding "$port" "$admin"
pending() { curl -s "http://127.0.0.1:$admin/metrics" | awk '/^genesys_sentiment_pending_deliveries /{print int($2)}'; }
url="http://127.0.0.1:$port/webhooks/genesys"
# (b) The no-journal path first (it leaves nothing owed).
read -r vrps vp50 vp99 vbad vreq < <(wrk_run "$conns" "$url?validate=true" validate | wrk_parse)
# Forwarding on: the lag sampled every second while wrk runs.
( for _ in $(seq 1 "$duration"); do sleep 1; pending; done ) >"$work/lag" &
sampler=$!
read -r drps dp50 dp99 dbad dreq < <(wrk_run "$conns" "$url" durable | wrk_parse)
lag_end=$(pending)
wait "$sampler" || true
started=$(date +%s.%N)
for _ in $(seq 1 3000); do [ "$(pending)" = 0 ] && break; sleep 0.1; done
drained=$(python3 -c "print(f'{$(date +%s.%N) - $started:.1f}')")
lag_left=$(pending)
rss_kib=$(awk '/VmHWM/{print $2}' "/proc/$daemon/status")
kill -TERM "$daemon"; wait "$daemon" 2>/dev/null || true
accepted=$((dreq - dbad))
bytes=$(du -sb "$work/journal" | cut -f1)
lags=$(paste -sd' ' "$work/lag")
python3 - "$grps" "$vrps" "$(python3 -c "print($accepted / $duration)")" "$trps" "$gp50" "$gp99" "$dp50" "$dp99" "$vp50" "$vp99" "$tp50" "$tp99" <<PY
import sys
g,v,d,t,gp50,gp99,dp50,dp99,vp50,vp99,tp50,tp99=map(float,sys.argv[1:])
print(f"""## Webhook intake as deployed (forwarding on)

Command: \`bench/deployed.sh $duration $conns\` (wrk, 2 threads, $conns connections, $duration s per run, loopback; every request a new interaction in the seed's form; the coaching sink is \`genesys-sentiment coaching-sink\`, answering 200 at once)

| | req/s | p50 ms | p99 ms | non-2xx |
| --- | --- | --- | --- | --- |
| original design (bench/original-go: append without fsync + synchronous push, Go's default client) | {g:.0f} | {gp50:.2f} | {gp99:.2f} | $gbad |
| the same with a 256-connection pool to the sink (for reference) | {t:.0f} | {tp50:.2f} | {tp99:.2f} | $tbad |
| this daemon, durable, forwarding on (answered 202 per second; all answers: {$drps:.0f}/s) | {d:.0f} | {dp50:.2f} | {dp99:.2f} | $dbad (503 + Retry-After past coaching.max_lag) |
| this daemon, \`?validate=true\` (no journal) | {v:.0f} | {vp50:.2f} | {vp99:.2f} | $vbad |

- durable / original: **{d/g:.2f}×** (target ≥ 6; {d/t:.2f}× the pooled variant); durable / no-journal: **{d/v:.2f}×** (target ≥ 0.5)
- accepted: $accepted; forwarder lag (accepted, not delivered) each second: $lags; at the end of the load: $lag_end; drained to $lag_left in $drained s after it
- peak RSS of the daemon: $((rss_kib / 1024)) MiB; journal after the drain: $bytes bytes = {$bytes/max($accepted,1):.0f} bytes per accepted-and-delivered event (target ≤ 600)""")
PY
