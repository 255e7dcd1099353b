"""Collection: results/<profile>/<study>/ tables from finished runs, the README headline, saved-mask scores."""
