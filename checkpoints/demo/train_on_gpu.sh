#!/usr/bin/env bash
# Runs ON a lent GPU machine (issue 10: "train there instead"; issue 11 item 6: the CUDA path measured),
# over a copy of the working tree with .gpu/ carried (python checkpoints/demo/gpu_move.py pack, first):
#   1. the CUDA path at 2048x1024 (label2city_1024p, random weights) against eager fp32 on the same card;
#   2. demo_v2 resumed from its slimmed checkpoint and the leave-one-frame-out run from scratch, side by
#      side on the one GPU (each is launch-bound: small crops, batch 1), until done or the deadline;
#   3. the runs packed into $OUT/runs.tar.part-* (<= 16 MB each) for gpu_move.py unpack.
# BUDGET_S: seconds this script may take in all (the device call's limit, minus a margin).
set -uo pipefail
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1
T0=$(date +%s)
BUDGET_S=${BUDGET_S:-570}
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
LOGS=/tmp/pack/logs; rm -rf /tmp/pack; mkdir -p "$LOGS"   # all travel back inside the tar: $OUT takes 8 files
DEVICE=${DEVICE:-cuda}
BENCH_SIZE=${BENCH_SIZE:-2048x1024}
PRECISION=${PRECISION:-fp16}
D=.gpu/data/cityscapes-samples
left() { echo $(( T0 + BUDGET_S - $(date +%s) - ${1:-0} )); }

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv 2>&1 | tee "$LOGS/gpu.txt"
if [ -z "${NO_INSTALL:-}" ]; then
  python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . > "$LOGS/install.log" 2>&1 \
    || { tail -20 "$LOGS/install.log"; exit 1; }
  export PATH="$(python3 -c 'import os, sys; print(os.path.dirname(sys.executable))'):$PATH"
fi
python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.is_available())'

mkdir -p runs/demo_v2/train
cp .gpu/demo_v2.slim.pt runs/demo_v2/train/slim.pt && echo slim.pt > runs/demo_v2/train/latest

# 1. the CUDA path on this card, alone on the GPU: the engine (p2phd bench: full frame, stroke and
#    style previews, fp16 vs eager fp32), then the bare generator eager / CUDA graph (bench_cuda_frame.py)
[ -n "${NO_BENCH:-}" ] || timeout "${BENCH_S:-70}" p2phd bench --arch label2city_1024p --features --size "$BENCH_SIZE" --device "$DEVICE" \
  --precision "$PRECISION" --backend eager --repeat 10 --reference-repeat 3 --json "$LOGS/bench_engine_cuda.json" \
  > "$LOGS/bench_engine_cuda.log" 2>&1; echo "p2phd bench: rc $?"; tail -30 "$LOGS/bench_engine_cuda.log"
[ -n "${NO_BENCH:-}" ] || timeout "${FRAME_S:-40}" python3 tests/bench/bench_cuda_frame.py --size "$BENCH_SIZE" --device "$DEVICE" --no-compile \
  --json "$LOGS/bench_cuda_frame.json" 2>&1 | tee "$LOGS/bench_cuda_frame.log"

# 2. both trainings side by side until the deadline (room kept for packing). The leave-one-out run
#    gets a shortened schedule (EXTRA_LOO, e.g. --niter 800 --niter_decay 800) when the whole recipe
#    cannot fit: its figures are then those of that schedule, and say so.
TRAIN_S=$(left "${RESERVE_S:-25}")
echo "training for up to ${TRAIN_S} s"
D=$D EXTRA="--nThreads 3 --device $DEVICE ${EXTRA_MAIN:-}" timeout -s INT "$TRAIN_S" bash checkpoints/demo/train_v2.sh \
  > "$LOGS/train_main.log" 2>&1 &
MAIN=$!
LOO=
if [ -z "${NO_LOO:-}" ]; then
  STEM=aachen_000007_000019 D=$D EXTRA="--nThreads 3 --device $DEVICE ${EXTRA_LOO:-}" timeout -s INT "$TRAIN_S" \
    bash checkpoints/demo/train_loo.sh > "$LOGS/train_loo.log" 2>&1 &
  LOO=$!
fi
wait $MAIN; echo "main training: rc $?"
[ -z "$LOO" ] || { wait $LOO; echo "leave-one-out training: rc $?"; }
for log in train_main train_loo; do [ -f "$LOGS/$log.log" ] && tr '\r' '\n' < "$LOGS/$log.log" | grep -v '^\s*$' | tail -3 || true; done
for r in demo_v2 demo_loo_aachen_000007_000019; do tail -1 "runs/$r/loss_log.jsonl" 2>/dev/null; done

# 3. pack: slimmed newest checkpoints + bundle configs + loss logs
for r in demo_v2 demo_loo_aachen_000007_000019; do
  [ -f "runs/$r/train/latest" ] || { echo "$r: no checkpoint saved"; continue; }
  python3 checkpoints/demo/gpu_move.py slim "$r" "/tmp/pack/$r"
  cp "runs/$r/bundle/config.json" "runs/$r/loss_log.jsonl" "/tmp/pack/$r/" 2>/dev/null
done
gzip "$LOGS"/train_*.log
tar -C /tmp/pack -cf - . | split -b 16000000 - "$OUT/runs.tar.part-"
ls -la "$OUT"

python3 tests/bench/bench_cuda_frame.py --summary "$LOGS"
echo "done in $(( $(date +%s) - T0 )) s"
