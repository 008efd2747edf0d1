"""Control mappings, the check registry, and assessment."""
