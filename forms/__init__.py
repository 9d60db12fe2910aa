"""forms of csq-intake."""
