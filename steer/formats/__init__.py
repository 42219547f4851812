"""File formats steer writes and reads: the provenance record, direction files, checkpoint records."""
