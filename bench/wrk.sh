# Shared by the bench scripts (sourced): a wrk run and its parsed figures, a free port.
# Expects $duration (seconds) to be set by the sourcing script.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wrk_run CONNECTIONS URL LABEL: a closed-loop run with bench/webhook.lua (a new event each).
wrk_run() {
  local c=$1 t=$(( $1 < 2 ? 1 : 2 ))
  wrk -t"$t" -c"$c" -d"${duration}s" --latency -s bench/webhook.lua "$2" -- "$3" 2>&1
}

# wrk_parse: wrk output on stdin -> "req/s p50_ms p99_ms non2xx requests"
wrk_parse() {
  python3 -c '
import re,sys
t=sys.stdin.read()
def ms(v,u): return float(v)*{"us":0.001,"ms":1.0,"s":1000.0}[u]
rps=float(re.search(r"Requests/sec:\s+([\d.]+)",t).group(1))
p50=re.search(r"50%\s+([\d.]+)(us|ms|s)",t); p99=re.search(r"99%\s+([\d.]+)(us|ms|s)",t)
bad=re.search(r"Non-2xx or 3xx responses:\s+(\d+)",t)
req=re.search(r"(\d+) requests in",t).group(1)
print(rps, ms(*p50.groups()), ms(*p99.groups()), bad.group(1) if bad else 0, req)'
}

# bench_workdir: a scratch directory ($work), the background processes to stop ($pids), and
# an EXIT trap that stops them and removes the directory.
bench_workdir() {
  work="$(mktemp -d)"
  pids=()
  trap bench_cleanup EXIT
}
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}

# wait_up URL: until it answers (20 s at most).
wait_up() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }

# start_sink: `genesys-sentiment coaching-sink` on a free port; sets $sink (its delivery URL).
start_sink() {
  local p; p=$(free_port)
  "$bin" coaching-sink --listen "127.0.0.1:$p" >"$work/sink.log" 2>&1 &
  pids+=($!)
  sink="http://127.0.0.1:$p/coaching"
  wait_up "http://127.0.0.1:$p/"
}

# serve_bench LOG VAR=VALUE...: `$bin serve` in the background with what every benchmark
# sets (warn logs, no Genesys behind it, no batch, no webhook authentication) plus the given
# variables, its output in LOG; sets $daemon.
serve_bench() {
  local log=$1
  shift
  env GENESYS_SENTIMENT__LOG__LEVEL=warn \
    GENESYS_SENTIMENT__GENESYS__CLIENT_ID=bench \
    GENESYS_SENTIMENT__GENESYS__CLIENT_SECRET=bench \
    GENESYS_SENTIMENT__GENESYS__BASE_URL=http://127.0.0.1:9 \
    GENESYS_SENTIMENT__WEBHOOK__ALLOW_UNAUTHENTICATED=true \
    GENESYS_SENTIMENT__BATCH__ENABLED=false \
    "$@" "$bin" serve >"$log" 2>&1 &
  daemon=$!
}

# serve_forwarding PORT ADMIN: the daemon as deployed (journal in $work), forwarding to
# $sink, signed; sets $daemon and waits until it is ready.
serve_forwarding() {
  serve_bench "$work/daemon.log" \
    GENESYS_SENTIMENT__SERVER__LISTEN="127.0.0.1:$1" \
    GENESYS_SENTIMENT__SERVER__ADMIN_LISTEN="127.0.0.1:$2" \
    GENESYS_SENTIMENT__JOURNAL__DIR="$work/journal" \
    GENESYS_SENTIMENT__STORE__URL="sqlite://$work/store.db" \
    GENESYS_SENTIMENT__COACHING__URL="$sink" \
    GENESYS_SENTIMENT__COACHING__SECRET="whsec_c2Vjb25kLXNlY3JldC1rZXktZm9yLXJvdGF0aW9u"
  pids+=($daemon)
  wait_up "http://127.0.0.1:$1/readyz"
}
