#!/usr/bin/env bash
# Leave-one-frame-out check of the demo v2 recipe (issue 10, item 5): the recipe of train_v2.sh trained
# from scratch on 7 of the 8 frames (no warm start: demo v1 saw all 8), then the 8th frame's labels
# rendered and compared with its photo (PSNR, per-class mean colour error; nothing of the photo is
# written). Resumable like train_v2.sh; as long as the demo's own training. Usage:
#   STEM=aachen_000007_000019 bash checkpoints/demo/train_loo.sh        # trains (run it again to resume)
#   STEM=aachen_000007_000019 EVALUATE=1 bash checkpoints/demo/train_loo.sh   # encode + held-out figures
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${D:-../shared/data/cityscapes-samples}
STEM=${STEM:-aachen_000007_000019}
NAME=demo_loo_$STEM
SEVEN=runs/$NAME.data   # symlinks to the 7 other frames, pix2pixHD layout
for sub in train_label train_inst train_img; do
  mkdir -p "$SEVEN/$sub"
  for f in "$D/$sub"/*.png; do
    case "$(basename "$f")" in "$STEM"*) ;; *) ln -sf "$(realpath "$f")" "$SEVEN/$sub/" ;; esac
  done
done
if [ -n "${EVALUATE:-}" ]; then
  p2phd encode --checkpoint "runs/$NAME" --dataroot "$SEVEN" --n_clusters 10
  exec python checkpoints/demo/evaluate.py "runs/$NAME/bundle" --data "$D" --held-out "$STEM"
fi
D=$SEVEN NAME=$NAME FROM_SCRATCH=1 exec bash checkpoints/demo/train_v2.sh
