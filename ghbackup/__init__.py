"""ghbackup."""
