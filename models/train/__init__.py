"""Training: NVIDIA's pix2pixHD recipe (options, loop, schedule, DDP, checkpoints, report)."""
