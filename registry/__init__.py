"""registry of csq-intake."""
