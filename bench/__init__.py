"""Benchmarks: figures anyone can rerun (`csq bench …`), outside the product's packages."""
