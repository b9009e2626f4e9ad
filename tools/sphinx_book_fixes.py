"""Local Sphinx extension: two fixes to the pages that jupyter-book 1.x writes.

Loaded by _config.yml (``sphinx: local_extensions``).

1. The sidebar buttons. pydata-sphinx-theme 0.17 fills the header's ``navbar_persistent`` slot with a
   search box unless the theme options name the slot, and jupyter-book's theme options never do;
   sphinx-book-theme's own default (empty) is then overridden. A non-empty slot makes the theme
   write a second, top navbar whose hidden ``.primary-toggle`` and ``.secondary-toggle`` come first
   in the page, and the theme's script binds only the first of each: the visible menu and
   "on this page" buttons did nothing (at 390 px no drawer opened). The slot is set empty here, so
   the top navbar and its buttons are not written at all (the search box stays in the sidebar and
   the article header).
2. Duplicate inline scripts. With Sphinx 7.x an inline script that an
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


def _no_top_navbar(app, config) -> None:
    options = config.html_theme_options
    if isinstance(options, dict):
        options.setdefault("navbar_persistent", [])


def setup(app):
    app.connect("config-inited", _no_top_navbar)
    # late, after the extensions that add per-page scripts (myst-nb's widget scripts)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
