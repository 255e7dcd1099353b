"""Sphinx extension: read, and so execute, every page of the book on every build.

The pages draw from ``results/`` and from environment variables (``MITOLIB_BOOK_PROFILE``,
``MITOLIB_RESULTS``) that Sphinx does not track.  Without this, an incremental build would
re-execute only the pages whose source changed and keep the others drawn from old results.
"""


def _every_page(app, env, added, changed, removed):
    return sorted(env.found_docs - set(added) - set(changed) - set(removed))


def setup(app):
    app.connect("env-get-outdated", _every_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
