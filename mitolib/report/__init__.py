"""What the book's pages import: loading collected results, notices, verdicts, page tables, the figure registry.

Reads ``results/`` and ``book/data/`` only; never trains, plans or evaluates.
"""
