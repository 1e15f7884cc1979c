#!/usr/bin/env bash
# Full-size engine benchmark: 1024p architecture (random weights, instance-feature variant so the
# style previews are measured), 2048x1024, JSON next to this script.
set -euo pipefail
out_dir="$(cd "$(dirname "$0")" && pwd)"
p2phd bench --arch label2city_1024p --features --size 2048x1024 --repeat "${REPEAT:-3}" \
  --reference-repeat "${REFERENCE_REPEAT:-2}" --json "$out_dir/bench_1024p.json" "$@"
