"""Figures: chart functions that take tidy DataFrames (and an ``ax``) and return the figure.  They read no files."""
