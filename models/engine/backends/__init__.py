"""Optional inference backends for the engine's full frames (each imports its runtime lazily)."""
