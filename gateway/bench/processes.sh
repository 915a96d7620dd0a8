#!/usr/bin/env bash
# The product listing through the gateway, on the one-process platform and on every
# context as its own process, alternating, both on PostgreSQL (one database per
# context, the same seeded catalog) (docs/benchmarks.md). Throughput per CPU-second of
# the whole machine, from /proc/stat. Needs wrk, psql, curl and a release build.
#
#   gateway/bench/processes.sh [duration] [connections] [rounds]
#
# In both modes the load goes to a gateway of its own with request deduplication off
# (gateway/bench/no-dedupe.config.yaml on port 4020), so every request does its own
# subgraph work. PLATFORM_BIN names the release binary (default target/release/platform).
set -euo pipefail
duration=${1:-20s}
connections=${2:-32}
rounds=${3:-2}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${PLATFORM_BIN:-$root/target/release/platform}
work=$(mktemp -d)
contexts=(products inventory accounts coupons orders payments shipping cart checkout search notifications)
pids=()
stop_all() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done; pids=(); }
trap 'stop_all; rm -rf "$work"' EXIT

export EVENT_BUS_PREFIX="bench-processes-$$" RUST_LOG=error
for c in "${contexts[@]}"; do
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS bench_$c" -c "CREATE DATABASE bench_$c" postgres
  export "${c^^}_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_$c?max_connections=8"
done

wait_for() { for _ in $(seq 1 600); do curl -fs "$1" > /dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

bench_gateway() {
  SUPERGRAPH_FILE_PATH="$root/schema/supergraph.graphql" ROUTER_CONFIG_FILE_PATH="$here/no-dedupe.config.yaml" PORT=4020 \
    "$bin" gateway < /dev/null > "$work/gateway.log" 2>&1 &
  pids+=($!)
  wait_for http://127.0.0.1:4020/readiness
}

one_process() {
  DATA_DIR="$work/data" "$bin" > "$work/platform.log" 2>&1 &
  pids+=($!)
  wait_for http://127.0.0.1:4000/readiness
  bench_gateway
}

processes() {
  for c in "${contexts[@]}"; do
    EVENT_BUS_REDIS_URL=redis://127.0.0.1:6379 "$bin" "$c" > "$work/$c.log" 2>&1 &
    pids+=($!)
  done
  for port in $(seq 4001 4011); do wait_for "http://127.0.0.1:$port/readiness"; done
  bench_gateway
}

listing='{"query":"query Listing($first: Int!, $filter: ProductFilter) { products(first: $first, filter: $filter) { edges { node { id name price { amount currency } inventory { available inStock } variants { sku inventory { available } } } } } }","variables":{"first":20,"filter":{"status":"PUBLISHED"}}}'
echo "$listing" > "$work/listing.json"

busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

measure() { # mode
  local before after requests
  before=$(busy)
  requests=$(wrk -t1 -c"$connections" -d"$duration" -s "$here/post.lua" http://127.0.0.1:4020/graphql -- "$work/listing.json" \
    | awk '/requests in/ { print $1 }')
  after=$(busy)
  local ticks=$((after - before)) hz
  hz=$(getconf CLK_TCK)
  awk -v mode="$1" -v r="$requests" -v t="$ticks" -v hz="$hz" -v d="$duration" \
    'BEGIN { s = t / hz; printf "%-12s %8d requests in %s, %6.1f CPU-s, %7.1f requests per CPU-second\n", mode, r, d, s, r / s }'
}

# The first start seeds the demo catalog (1,000 products) into the databases; both
# modes then read the same data.
one_process
for _ in $(seq 1 300); do
  count=$(curl -fs http://127.0.0.1:4000/graphql -H 'content-type: application/json' \
    -d '{"query":"{ products(first: 20) { edges { node { inventory { available } } } } }"}' | grep -o '"available":[1-9]' | wc -l || true)
  [ "$count" -ge 1 ] && break
  sleep 1
done
sleep 5
stop_all

for round in $(seq 1 "$rounds"); do
  one_process; measure "one process"; stop_all
  processes; measure "processes"; stop_all
done
