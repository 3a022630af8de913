"""Beam jobs and the other commands: each is `run(argv)`, composing transforms; see the README's Layout."""
