#!/usr/bin/env bash
# Gateway and subgraph benchmarks (docs/benchmarks.md). Needs wrk and python3, and the
# platform running with its demo catalog: `cargo run --release` in another shell.
#
#   gateway/bench/run.sh [duration] [connections]
#
# 1. the product listing through the gateway (Products + Inventory joined), as
#    configured (request deduplication on) and, on port 4010, a second gateway with
#    deduplication off (every request does its own subgraph work);
# 2. the same work straight to the subgraphs: the listing from Products, then the
#    `_entities` call for the same products and variants to Inventory;
# 3. Inventory `_entities` with 100 Variant representations, one connection.
#
# PLATFORM_BIN names the release binary (default target/release/platform).
set -euo pipefail
duration=${1:-20s}
connections=${2:-64}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gateway=http://127.0.0.1:4000/graphql
products=http://127.0.0.1:4001/graphql
inventory=http://127.0.0.1:4002/graphql

python3 - "$work" "$products" <<'PY'
import json, sys, urllib.request
work, products = sys.argv[1], sys.argv[2]
listing = """query Listing($first: Int!, $filter: ProductFilter) {
  products(first: $first, filter: $filter) { edges { node { id name price { amount currency }
    inventory { available inStock } variants { sku inventory { available } } } } } }"""
direct = """query Listing($first: Int!, $filter: ProductFilter) {
  products(first: $first, filter: $filter) { edges { node { id name price { amount currency } variants { sku } } } } }"""
variables = {"first": 20, "filter": {"status": "PUBLISHED"}}
def post(url, query, variables):
    request = urllib.request.Request(url, json.dumps({"query": query, "variables": variables}).encode(), {"content-type": "application/json"})
    return json.load(urllib.request.urlopen(request))
nodes = [e["node"] for e in post(products, direct, variables)["data"]["products"]["edges"]]
assert len(nodes) == 20, nodes
entities = """query($v: [_Any!]!, $p: [_Any!]!) {
  variants: _entities(representations: $v) { ... on Variant { inventory { available } } }
  products: _entities(representations: $p) { ... on Product { inventory { available inStock } } } }"""
skus = [v["sku"] for n in nodes for v in n["variants"]]
reps = {"v": [{"__typename": "Variant", "sku": s} for s in skus], "p": [{"__typename": "Product", "id": n["id"]} for n in nodes]}
hundred = post(products, """{ products(first: 100) { edges { node { variants { sku } } } } }""", {})
hundred_skus = [v["sku"] for e in hundred["data"]["products"]["edges"] for v in e["node"]["variants"]][:100]
files = {
    "gateway.json": {"query": listing, "variables": variables},
    "products.json": {"query": direct, "variables": variables},
    "inventory.json": {"query": entities, "variables": reps},
    "entities100.json": {"query": "query($r: [_Any!]!) { _entities(representations: $r) { ... on Variant { inventory { available } } } }",
                         "variables": {"r": [{"__typename": "Variant", "sku": s} for s in hundred_skus]}},
}
for name, body in files.items():
    json.dump(body, open(f"{work}/{name}", "w"))
print(f"20 products, {len(skus)} variants; {len(hundred_skus)} representations for the _entities benchmark")
PY

platform_bin=${PLATFORM_BIN:-target/release/platform}
SUPERGRAPH_FILE_PATH="$(pwd)/data/gateway/supergraph.graphql" ROUTER_CONFIG_FILE_PATH="$here/no-dedupe.config.yaml" \
  "$platform_bin" gateway < /dev/null > "$work/gateway-no-dedupe.log" 2>&1 &
no_dedupe=$!
trap 'kill $no_dedupe 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:4010/health > /dev/null && break; sleep 0.2; done

bench() { # name url body connections
  echo "== $1 ($4 connections, $duration)"
  wrk -t1 -c"$4" -d"$duration" --latency -s "$here/post.lua" "$2" -- "$work/$3" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|Socket errors"
}
bench "gateway: listing with inventory" "$gateway" gateway.json "$connections"
bench "gateway, deduplication off: listing with inventory" http://127.0.0.1:4010/graphql gateway.json "$connections"
bench "direct: Products listing" "$products" products.json "$connections"
bench "direct: Inventory _entities for that page" "$inventory" inventory.json "$connections"
bench "direct: Inventory _entities, 100 representations" "$inventory" entities100.json 1
