"""samples of csq-intake: seeded generated envelopes with their truth (generate.py, handprint.py,
paper.py, scanner.py, people.py, build_corpus.py), ready-made readings and staff accounts for
the station's benchmark and the tests (readings.py), and the demo (demo.py)."""
