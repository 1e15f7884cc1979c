"""What the networks read: one-hot labels, instance edges, instance features and default styles."""
