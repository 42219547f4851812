"""File formats steer writes and reads: the checkpoint record, direction files, trajectory records."""
