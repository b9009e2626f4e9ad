"""Local Sphinx extension: the references page labels each paper as the text cites it.

Loaded by _config.yml (``sphinx: local_extensions``) and chosen by ``bibtex_default_style:
authoryear``. The chapters cite in author-year form ("Finn et al., 2017"); sphinxcontrib-bibtex's
default style labels the list "[FAL17]", which a reader cannot match to the citation. This style
is pybtex's ``unsrt`` (which links an arXiv ``eprint``, a ``doi`` or a ``url``) with labels
"Finn et al., 2017", "Sun and Saenko, 2016" or "Caruana, 1997", made distinct with a, b, ... when two
papers share one, and the list sorted by author and year.
"""
from __future__ import annotations

from collections import Counter

from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting.author_year_title import SortingStyle
from pybtex.plugin import register_plugin


def author_year(entry) -> str:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [" ".join(person.last_names).replace("{", "").replace("}", "") for person in people]
    if not names:
        who = entry.fields.get("title", "Anonymous").split(":")[0]
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [author_year(entry) for entry in entries]
        repeated = {label for label, count in Counter(labels).items() if count > 1}
        seen: Counter = Counter()
        for label in labels:
            if label in repeated:
                yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label]]
                seen[label] += 1
            else:
                yield label


class AuthorYearStyle(UnsrtStyle):
    default_label_style = AuthorYearLabels
    default_sorting_style = SortingStyle


def setup(app):
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
