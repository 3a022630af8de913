"""Composite Beam transforms and their DoFns: each stage of the jobs, built from rules."""
