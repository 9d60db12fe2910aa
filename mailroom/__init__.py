"""The mailroom's side: a consume folder the scanner writes into (watch.py). It calls scan/ to
read and registry/ to register, like cli.py and station/, and holds no reading or data logic."""
