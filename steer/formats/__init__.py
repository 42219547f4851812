"""File formats steer writes and reads: the checkpoint record and provenance, direction files, trajectory records."""
