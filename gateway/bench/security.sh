#!/usr/bin/env bash
# What our gateway plugins cost (docs/benchmarks.md). Needs wrk and python3, and the
# platform running with its demo catalog: `cargo run --release` in another shell.
#
#   gateway/bench/security.sh [duration] [connections]
#
# Starts two more gateways over the running subgraphs, both with request
# deduplication off so every request does its own work:
#   - port 4011: our configuration, every plugin on (identity, trusted documents,
#     rate limits, operation limits, authorization);
#   - port 4012: the same engine and configuration with every plugin of ours off.
# and measures the web client's ProductPage (a product with its variants' live
# inventory), as the web client (`graphql-client-name: web`) signed in with a
# customer token:
#   1. as text, plugins on;   2. as text, plugins off;
#   3. by persisted id (`documentId`), plugins on;
# and `{ __typename }`, which calls no subgraph, so the gateway's own work per request
# is all there is: 4. plugins on; 5. plugins off.
# PLATFORM_BIN names the release binary (default target/release/platform).
set -euo pipefail
duration=${1:-20s}
connections=${2:-32}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
gateway=http://127.0.0.1:4000/graphql

python3 - "$work" "$gateway" "$repo" <<'PY'
import base64, hashlib, hmac, json, os, re, sys, time, urllib.request
work, gateway, repo = sys.argv[1:4]
def post(body):
    request = urllib.request.Request(gateway, json.dumps(body).encode(), {"content-type": "application/json"})
    return json.load(urllib.request.urlopen(request))
product = post({"query": "{ products(first: 1, filter: { status: PUBLISHED }) { edges { node { id } } } }"})
product = product["data"]["products"]["edges"][0]["node"]["id"]
manifest = json.load(open(f"{repo}/frontend-contracts/manifests/web.json"))
page = next(op for op in manifest["operations"] if op["name"] == "ProductPage")
# A customer's token, signed like Accounts' (HS256 with JWT_SECRET).
secret = os.environ.get("JWT_SECRET", "development-only-secret-set-JWT_SECRET-in-production").encode()
b64 = lambda data: base64.urlsafe_b64encode(data).rstrip(b"=").decode()
now = int(time.time())
claims = {"sub": "0190f3d2-0000-7000-8000-0000000000b1", "role": "CUSTOMER", "iss": "ecommerce-accounts",
          "aud": "ecommerce", "iat": now, "exp": now + 7200}
signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
token = signing_input + "." + b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())
open(f"{work}/token", "w").write(token)
variables = {"id": product}
json.dump({"query": page["body"], "operationName": "ProductPage", "variables": variables}, open(f"{work}/text.json", "w"))
json.dump({"documentId": page["id"], "operationName": "ProductPage", "variables": variables}, open(f"{work}/id.json", "w"))
json.dump({"query": "{ __typename }"}, open(f"{work}/typename.json", "w"))
answer = post({"query": page["body"], "variables": variables})
assert "errors" not in answer, answer
request = urllib.request.Request(gateway, json.dumps({"documentId": page["id"], "variables": variables}).encode(),
                                 {"content-type": "application/json", "graphql-client-name": "web"})
assert json.load(urllib.request.urlopen(request)) == answer
print(f"ProductPage of {product}: {len(json.dumps(answer))} bytes")
# Two configurations: ours with deduplication off, and the same without our plugins.
config = open(f"{repo}/gateway/router.config.yaml").read()
config = config.replace("path: ../schema/supergraph.graphql", f"path: {repo}/schema/supergraph.graphql")
config = config.replace("error_masking:", "traffic_shaping:\n  all:\n    dedupe_enabled: false\n  router:\n    dedupe:\n      enabled: false\nerror_masking:", 1)
config = config.replace("level: info", "level: warn")
open(f"{work}/on.yaml", "w").write(config.replace("port: 4000", "port: 4011"))
off = re.sub(r"(\n  [a-z_]+:\n    enabled: )true", r"\1false", config.replace("port: 4000", "port: 4012"))
assert not re.search(r"\n  [a-z_]+:\n    enabled: true", off), off
open(f"{work}/off.yaml", "w").write(off)
PY

platform_bin=${PLATFORM_BIN:-target/release/platform}
for mode in on off; do
  SUPERGRAPH_FILE_PATH="$(pwd)/data/gateway/supergraph.graphql" ROUTER_CONFIG_FILE_PATH="$work/$mode.yaml" \
    TRUSTED_DOCUMENTS_DIR="$repo/frontend-contracts/manifests" \
    "$platform_bin" gateway < /dev/null > "$work/gateway-$mode.log" 2>&1 &
  pids+=($!)
done
for port in 4011 4012; do
  for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:$port/readiness" > /dev/null && break; sleep 0.2; done
done

token=$(cat "$work/token")
bench() { # name port body
  echo "== $1 ($connections connections, $duration)"
  wrk -t1 -c"$connections" -d"$duration" --latency -s "$here/post.lua" "http://127.0.0.1:$2/graphql" \
    -- "$work/$3" "authorization: Bearer $token" "graphql-client-name: web" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx|Socket errors"
}
bench "ProductPage as text, our plugins on" 4011 text.json
bench "ProductPage as text, our plugins off" 4012 text.json
bench "ProductPage by persisted id, our plugins on" 4011 id.json
bench "{ __typename } (no subgraph call), our plugins on" 4011 typename.json
bench "{ __typename } (no subgraph call), our plugins off" 4012 typename.json
