"""Model: blocks, the three architectures, metrics and losses, 3-D objects.  Imports core and data only."""
