"""The index is incremental (only changed text is embedded) and atomic (a failed build leaves
the previous index serving, untouched)."""

import shutil

import pytest

from assistant.errors import CorpusError
from assistant.indexing import build_index
from assistant.manifest import BUILDS, current_build_dir, current_manifest
from assistant.retrieval import LoadedIndex, search_index
from assistant.settings import Settings
from tests.conftest import REAL_CORPUS

SMALL = ["what-is-peer-support", "sponsorship", "smart-recovery", "family-and-friends"]


@pytest.fixture()
def small(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for doc_id in SMALL:
        shutil.copy(REAL_CORPUS / f"{doc_id}.md", corpus)
    shutil.copy(REAL_CORPUS / "resources.yaml", corpus)
    return Settings(corpus_dir=corpus, index_dir=tmp_path / "index")


def _search(settings, embedder, question):
    index = LoadedIndex.open(settings)
    return search_index(index, question, embedder.encode_one(question), k=5)


def test_reindexing_an_unchanged_corpus_embeds_nothing(small, counting_embedder):
    first = build_index(small, embedder=counting_embedder)
    assert first.embedded > 0 and counting_embedder.encoded == first.embedded
    counting_embedder.encoded = 0
    again = build_index(small, embedder=counting_embedder)
    assert again.up_to_date and again.build_id == first.build_id
    forced = build_index(small, embedder=counting_embedder, force=True)
    assert forced.embedded == 0 and forced.reused > 0
    assert counting_embedder.encoded == 0


def test_changing_one_document_embeds_only_its_changed_passages(small, counting_embedder):
    first = build_index(small, embedder=counting_embedder)
    path = small.corpus_dir / "sponsorship.md"
    path.write_text(path.read_text() + "\n\n## A new section\n\nA brand new sentence about "
                    "sponsors and how to thank them.\n", encoding="utf-8")
    counting_embedder.encoded = 0
    report = build_index(small, embedder=counting_embedder)
    assert report.added_chunks == 1 and report.changed_chunks == 0
    assert report.removed_chunks == 0
    # the new passage and its one sentence; nothing else
    assert counting_embedder.encoded == report.embedded == 2
    assert report.chunk_count == first.chunk_count + 1
    hits = _search(small, counting_embedder, "how to thank my sponsor brand new sentence")
    assert hits[0].section == "A new section"


def test_removed_documents_lose_their_passages(small, counting_embedder):
    build_index(small, embedder=counting_embedder)
    (small.corpus_dir / "smart-recovery.md").unlink()
    report = build_index(small, embedder=counting_embedder)
    assert report.removed_chunks > 0 and report.embedded == 0
    index = LoadedIndex.open(small)
    assert index.collection.count() == report.chunk_count
    assert not any(c.doc_id == "smart-recovery" for c in index.chunks)
    stored = index.collection.get(include=["metadatas"])
    assert not any(m["doc_id"] == "smart-recovery" for m in stored["metadatas"])


def test_a_change_of_splitter_settings_forces_a_full_rebuild(small, counting_embedder):
    first = build_index(small, embedder=counting_embedder)
    smaller = Settings(corpus_dir=small.corpus_dir, index_dir=small.index_dir, chunk_size=400)
    report = build_index(smaller, embedder=counting_embedder)
    assert report.full_rebuild and report.reason == "model or splitter settings changed"
    assert report.reused == 0 and report.chunk_count > first.chunk_count
    assert current_manifest(small.index_dir).chunk_size == 400


def test_drafts_are_not_indexed(small, counting_embedder):
    path = small.corpus_dir / "smart-recovery.md"
    path.write_text(path.read_text().replace("status: vetted", "status: draft"), "utf-8")
    build_index(small, embedder=counting_embedder)
    assert not any(c.doc_id == "smart-recovery" for c in LoadedIndex.open(small).chunks)


def test_failed_strict_build_leaves_the_old_index_serving(small, counting_embedder):
    build_index(small, embedder=counting_embedder)
    before = current_build_dir(small.index_dir)
    (small.corpus_dir / "broken.md").write_text("---\nid: broken\ntitle: [unclosed\n---\nx\n")
    with pytest.raises(CorpusError, match="index left unchanged"):
        build_index(small, strict=True, embedder=counting_embedder)
    assert current_build_dir(small.index_dir) == before
    assert _search(small, counting_embedder, "what does a sponsor do")[0].doc_id == "sponsorship"


def test_a_crash_mid_build_leaves_the_old_index_untouched(small, counting_embedder):
    build_index(small, embedder=counting_embedder)
    before = current_build_dir(small.index_dir)
    files_before = sorted(p.name for p in before.rglob("*"))
    path = small.corpus_dir / "sponsorship.md"
    path.write_text(path.read_text() + "\n\n## Crash\n\nThis text will never be embedded.\n")

    class Exploding:
        path, model_id = counting_embedder.path, counting_embedder.model_id

        def encode(self, texts, progress=False):
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        build_index(small, embedder=Exploding())
    assert current_build_dir(small.index_dir) == before
    assert sorted(p.name for p in before.rglob("*")) == files_before
    assert not [p for p in (small.index_dir / BUILDS).iterdir() if p.name.endswith(".partial")]
    assert _search(small, counting_embedder, "what does a sponsor do")[0].doc_id == "sponsorship"


def test_old_builds_are_pruned_but_the_previous_one_is_kept(small, counting_embedder):
    for n in range(3):
        path = small.corpus_dir / "sponsorship.md"
        path.write_text(path.read_text() + f"\n\nExtra line number {n} about sponsors.\n")
        build_index(small, embedder=counting_embedder)
    builds = [p for p in (small.index_dir / BUILDS).iterdir() if p.is_dir()]
    assert len(builds) == 2
    assert current_build_dir(small.index_dir) in builds


def test_the_real_corpus_index_has_every_vetted_document(real_settings):
    from assistant.corpus import load_corpus

    index = LoadedIndex.open(real_settings)
    vetted = {d.id for d in load_corpus(real_settings.corpus_dir).vetted}
    assert {c.doc_id for c in index.chunks} == vetted
    assert len(vetted) >= 30
    assert index.collection.count() == len(index.chunks)
