"""The same index and search run through a real Chroma server (`chroma run`) on 127.0.0.1."""

import shutil

import pytest

from assistant.chroma_server import chroma_command, running_chroma
from assistant.indexing import build_index
from assistant.manifest import current_manifest
from assistant.retrieval import LoadedIndex, search_index
from assistant.settings import Settings
from tests.conftest import REAL_CORPUS

pytestmark = pytest.mark.server
DOCS = ["what-is-peer-support", "sponsorship", "smart-recovery", "family-and-friends",
        "finding-a-meeting"]


@pytest.fixture()
def chroma_server(tmp_path):
    if chroma_command() is None:
        pytest.skip("the chroma command is not installed")
    with running_chroma(tmp_path / "server-data") as server:
        yield server.port


def test_index_and_search_through_a_chroma_server(tmp_path, chroma_server, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for doc_id in DOCS:
        shutil.copy(REAL_CORPUS / f"{doc_id}.md", corpus)
    local = Settings(corpus_dir=corpus, index_dir=tmp_path / "local-index")
    remote = Settings(corpus_dir=corpus, index_dir=tmp_path / "remote-index",
                      chroma_host="127.0.0.1", chroma_port=chroma_server)
    build_index(local, embedder=embedder)
    report = build_index(remote, embedder=embedder)
    manifest = current_manifest(remote.index_dir)
    assert manifest.backend == f"http://127.0.0.1:{chroma_server}"
    assert not (remote.index_dir / "builds" / report.build_id / "chroma").exists()

    served = LoadedIndex.open(remote)
    assert served.collection.count() == report.chunk_count
    for question in ("what does a sponsor do", "how do I find a meeting",
                     "SMART Recovery tools"):
        vector = embedder.encode_one(question)
        via_server = search_index(served, question, vector, k=5)
        embedded = search_index(LoadedIndex.open(local), question, vector, k=5)
        assert [h.chunk_id for h in via_server] == [h.chunk_id for h in embedded]

    # An incremental refresh through the server swaps collections and drops the oldest.
    path = corpus / "sponsorship.md"
    path.write_text(path.read_text() + "\n\n## Thanks\n\nThanking a sponsor can be simple.\n")
    second = build_index(remote, embedder=embedder)
    assert second.embedded == 2
    again = LoadedIndex.open(remote)
    assert again.manifest.collection != manifest.collection
    hits = search_index(again, "thanking a sponsor", embedder.encode_one("thanking a sponsor"))
    assert hits[0].section == "Thanks"
