"""samples of csq-intake."""
