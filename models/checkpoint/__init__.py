"""Checkpoint formats: our bundles (safetensors + JSON) and NVIDIA's directories (no pickle runs)."""
