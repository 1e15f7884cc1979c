"""Generator G1/G2, encoder E, discriminators, losses and VGG, with NVIDIA's parameter names."""
