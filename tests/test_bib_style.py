"""tools/sphinx_bib_style.py: the references page labels papers as the chapters cite them."""
from __future__ import annotations

import sys
from pathlib import Path

from pybtex.database import parse_string

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from sphinx_bib_style import AuthorYearLabels, AuthorYearStyle  # noqa: E402

BIB = """
@article{one, author = {Caruana, Rich}, title = {Multitask Learning}, year = {1997}}
@article{two, author = {Sun, Baochen and Saenko, Kate}, title = {Deep CORAL}, year = {2016}}
@article{three, author = {Finn, Chelsea and Abbeel, Pieter and Levine, Sergey}, title = {MAML}, year = {2017}}
@article{a, author = {Sun, Baochen and Feng, Jiashi and Saenko, Kate}, title = {Return}, year = {2016}}
@article{b, author = {Sun, Baochen and Zhou, X. and Li, Y.}, title = {Other}, year = {2016}}
@article{nobody, title = {An Anonymous Report: details}, year = {2001}}
"""


def test_labels_read_like_the_citations():
    entries = parse_string(BIB, "bibtex").entries
    labels = dict(zip(entries, AuthorYearLabels().format_labels(entries.values())))
    assert labels["one"] == "Caruana, 1997"
    assert labels["two"] == "Sun and Saenko, 2016"
    assert labels["three"] == "Finn et al., 2017"
    assert (labels["a"], labels["b"]) == ("Sun et al., 2016a", "Sun et al., 2016b")
    assert labels["nobody"] == "An Anonymous Report, 2001"


def test_the_style_links_an_arxiv_eprint():
    bib = parse_string("@article{x, author = {Snell, Jake}, title = {Prototypical}, year = {2017},"
                       " journal = {NeurIPS}, eprint = {1703.05175}}", "bibtex")
    entry = next(iter(AuthorYearStyle().format_bibliography(bib)))
    assert entry.label == "Snell, 2017"
    assert "https://arxiv.org/abs/1703.05175" in entry.text.render_as("html")


def test_every_reference_links_to_the_paper():
    """Each entry of references.bib has a DOI, an arXiv eprint or a URL, which the page links."""
    bib = parse_string((Path(__file__).resolve().parents[1] / "references.bib").read_text(), "bibtex")
    unlinked = [key for key, entry in bib.entries.items()
                if not {"doi", "eprint", "url"} & {field.lower() for field in entry.fields}]
    assert not unlinked, f"references without a DOI, eprint or URL: {unlinked}"
