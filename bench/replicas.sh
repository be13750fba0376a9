#!/usr/bin/env bash
# Durable webhook throughput through the journal shared by replicas (PostgreSQL: record,
# dedupe keys and outbox row committed with synchronous_commit before each 202) beside the
# embedded file journal (fsync before each 202), measured in the same run on this machine.
# PostgreSQL is a throw-away cluster on loopback (.ci/postgres.sh), fsync on. Forwarding off,
# every request a new event; each run bounded by DURATION.
# Usage: bench/replicas.sh [DURATION_SECONDS]   (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
duration="${1:-10}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }
cargo build --release --locked -q
# shellcheck source=wrk.sh
source bench/wrk.sh
bin="$PWD/target/release/genesys-sentiment"
# shellcheck source=../.ci/postgres.sh
source .ci/postgres.sh >/dev/null
work="$(mktemp -d)"
daemon=""
cleanup() {
  [ -n "$daemon" ] && { kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; }
  rm -rf "$work"
  stop_postgres
}
trap cleanup EXIT
start() { # label, store url
  port=$(free_port)
  serve_bench "$work/$1.log" \
    GENESYS_SENTIMENT__SERVER__LISTEN="127.0.0.1:$port" \
    GENESYS_SENTIMENT__SERVER__ADMIN_LISTEN="127.0.0.1:$(free_port)" \
    GENESYS_SENTIMENT__SERVER__REPLICA_NAME="bench-$1" \
    GENESYS_SENTIMENT__JOURNAL__DIR="$work/$1/journal" \
    GENESYS_SENTIMENT__STORE__URL="$2"
  for _ in $(seq 1 200); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.1; done
  echo "the daemon ($1) did not become ready:" >&2; cat "$work/$1.log" >&2; exit 1
}
stop() { kill -TERM "$daemon"; wait "$daemon" || true; daemon=""; }
mkdir -p "$work/file" "$work/pg"
declare -A result
for c in 16 64; do
  start file "sqlite://$work/file/store.db"
  result[file$c]=$(wrk_run "$c" "http://127.0.0.1:$port/webhooks/genesys" "file$c" | wrk_parse)
  stop
  start pg "$TEST_POSTGRES_URL"
  result[pg$c]=$(wrk_run "$c" "http://127.0.0.1:$port/webhooks/genesys" "pg$c" | wrk_parse)
  stop
done
verified=$("$bin" audit verify --store "$TEST_POSTGRES_URL" | head -1)
rows=""
for c in 16 64; do
  read -r frps fp50 fp99 fbad _ <<<"${result[file$c]}"
  read -r prps pp50 pp99 pbad _ <<<"${result[pg$c]}"
  ratio=$(python3 -c "print(f'{$prps/$frps:.2f}')")
  rows+="| $c | $(printf '%.0f' "$frps") | $(printf '%.2f' "$fp50") | $(printf '%.2f' "$fp99") | $(printf '%.0f' "$prps") | $(printf '%.2f' "$pp50") | $(printf '%.2f' "$pp99") | $ratio | $fbad / $pbad |"$'\n'
done
cat <<MD
## Durable webhooks through PostgreSQL (replicas) beside the file journal

Command: \`bench/replicas.sh $duration\` (wrk, ${duration} s per run, loopback; one daemon at a time; every request a new event; forwarding off; PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on the same 2 cores, fsync and synchronous_commit on)

| connections | file journal req/s | p50 ms | p99 ms | PostgreSQL req/s | p50 ms | p99 ms | ratio PostgreSQL / file | non-2xx (file / PostgreSQL) |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
$rows
After the runs: \`audit verify --store\`: $verified
MD
