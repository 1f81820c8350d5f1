"""Documents split by headers first, then by size, and each passage knows where it came from."""

from pathlib import Path

from assistant.chunking import chunk_document, split_sentences
from assistant.corpus import parse_document

DOC = """---
id: sample-doc
title: A sample document
summary: A short document used to test chunking.
topics: [testing]
audience: everyone
origin: written-for-project
references:
  - organisation: Test
    page: Test page
status: vetted
reviewed_on: 2026-01-01
review_due: 2027-01-01
---

Intro paragraph that has no heading of its own but still matters.

## First section

{first}

## Second section

Short second section text that stands alone.
"""


def _doc(tmp_path: Path, first: str = "One sentence here.") -> object:
    path = tmp_path / "sample-doc.md"
    path.write_text(DOC.replace("{first}", first), encoding="utf-8")
    doc, problems = parse_document(path)
    assert doc is not None, problems
    return doc


def test_passages_carry_doc_title_section_position_and_hash(tmp_path):
    chunks = chunk_document(_doc(tmp_path), chunk_size=800, chunk_overlap=100)
    assert [c.section for c in chunks] == ["", "First section", "Second section"]
    assert [c.position for c in chunks] == [0, 1, 2]
    assert all(c.doc_id == "sample-doc" and c.title == "A sample document" for c in chunks)
    assert chunks[1].chunk_id == "sample-doc#001"
    assert all(len(c.content_hash) == 16 for c in chunks)


def test_a_passage_never_straddles_two_sections(tmp_path):
    chunks = chunk_document(_doc(tmp_path), chunk_size=800, chunk_overlap=100)
    assert not any("First section" in c.text or "Second section" in c.text for c in chunks)
    assert "Short second section" in chunks[2].text


def test_long_sections_are_split_to_the_chunk_size(tmp_path):
    long = " ".join(f"Sentence number {i} talks about peer support." for i in range(80))
    chunks = chunk_document(_doc(tmp_path, long), chunk_size=300, chunk_overlap=50)
    first = [c for c in chunks if c.section == "First section"]
    assert len(first) > 5
    assert all(len(c.text) <= 300 for c in first)


def test_hash_changes_only_when_the_passage_changes(tmp_path):
    a = chunk_document(_doc(tmp_path), 800, 100)
    b = chunk_document(_doc(tmp_path), 800, 100)
    c = chunk_document(_doc(tmp_path, "A different sentence."), 800, 100)
    assert [x.content_hash for x in a] == [x.content_hash for x in b]
    assert a[1].content_hash != c[1].content_hash
    assert a[2].content_hash == c[2].content_hash


def test_sentences_are_split_as_written_and_list_items_stand_alone():
    text = 'He said "stop." Then he left.\n\nTry these:\n- Ask a friend.\n- Call a line.'
    assert split_sentences(text) == ['He said "stop."', "Then he left.", "Try these:",
                                     "Ask a friend.", "Call a line."]
