"""Training and inference: train one run, evaluate a volume, segment a user's stack, export a model package."""
