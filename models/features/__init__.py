"""Instance-feature clusters (k-means, NVIDIA's encode_features) and the object library."""
