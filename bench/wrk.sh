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
