"""`python -m station.bench [review|api|all] [--quick]`, as before: the station's figures
moved to bench/station.py (`python -m bench.station`); this entry only forwards to it."""

if __name__ == "__main__":
    from bench.station import main

    main()
