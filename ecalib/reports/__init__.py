"""Turning result folders and reference data into tables and figures for the book."""
