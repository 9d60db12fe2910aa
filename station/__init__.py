"""station of csq-intake."""
