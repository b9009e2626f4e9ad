"""Local Sphinx extension: drop the duplicate inline scripts that jupyter-book 1.x writes into every page.

Loaded by _config.yml (``sphinx: local_extensions``). With Sphinx 7.x an inline script that an
extension adds after the builder is initialised (sphinx-thebe's and sphinx-togglebutton's
configuration) is written twice into every page, once registered with filename ``None`` and once
with ``''``. The second ``const THEBE_JS_URL = ...`` is a JavaScript error on every page
("Identifier 'THEBE_JS_URL' has already been declared"), which tests/test_book_in_browser.py rejects.
Fixed in Sphinx 8.2 (sphinx-doc/sphinx#13402), but jupyter-book 1.x requires Sphinx 7.
"""
from __future__ import annotations

from typing import Any


def _drop_duplicate_scripts(app, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen: set = set()
    unique = []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        key = (getattr(script, "filename", None) or "", getattr(script, "priority", None),
               tuple(sorted((name, str(value)) for name, value in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    # late, after the extensions that add per-page scripts (myst-nb's widget scripts)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
