"""scan of csq-intake."""
