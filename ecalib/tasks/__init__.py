"""Experiments built from the library: each task turns a protocol into training runs and result folders."""
