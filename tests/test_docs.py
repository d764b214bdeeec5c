"""The project documents itself: every relative link in README.md, CHANGELOG.md and docs/ resolves
to a file (and heading) inside the repository, and nothing points outside it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import REPO

DOCUMENTS = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")


def prose(path: Path) -> str:
    """The text outside fenced code blocks and inline code."""
    kept, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            kept.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(kept)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found, fenced = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            found.add(slug(line.lstrip("#")))
    return found


def links(path: Path) -> list[str]:
    return LINK.findall(prose(path))


def test_there_are_documents_and_links():
    assert (REPO / "docs").is_dir() and len(DOCUMENTS) >= 8
    assert sum(len(links(d)) for d in DOCUMENTS) > 30


@pytest.mark.parametrize("document", DOCUMENTS, ids=[str(d.relative_to(REPO)) for d in DOCUMENTS])
def test_every_relative_link_resolves_inside_the_repository(document):
    problems = []
    for target in links(document):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (document.parent / file_part).resolve() if file_part else document
        if not resolved.is_relative_to(REPO):
            problems.append(f"{target}: points outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{target}: no heading #{anchor} in {resolved.relative_to(REPO)}")
    assert not problems, f"{document.relative_to(REPO)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("document", DOCUMENTS, ids=[str(d.relative_to(REPO)) for d in DOCUMENTS])
def test_nothing_names_a_place_outside_the_repository(document):
    text = document.read_text(encoding="utf-8")
    assert "../shared" not in text and "/work/" not in text


def test_the_slug_of_a_heading():
    assert slug(" Sample files for `slamon ingest`") == "sample-files-for-slamon-ingest"
    assert slug(" `[[domain.probe]]`") == "domainprobe"
    assert slug(" How errors are reported") == "how-errors-are-reported"
