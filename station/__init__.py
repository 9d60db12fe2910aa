"""station of csq-intake: the web review station and the online API (FastAPI, Jinja), over
registry.service.Registry. Its benchmarks are in bench/ (bench/station.py); its tests'
fixtures in tests/station_fixtures.py."""
