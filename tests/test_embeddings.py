"""The packaged model in each precision: unit vectors, one text = the same text in a batch,
and bfloat16 agreeing with float32 closely enough that an index built in one answers
questions embedded in the other."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.embeddings import default_embedder, native_bfloat16
from assistant.settings import Settings

pytestmark = pytest.mark.integration
TEXTS = [
    "salary",
    "What does a senior backend developer earn in Leuven?",
    "Wat verdient een junior ontwikkelaar in Gent?",
    "title: Recruiting Backend Developers in Leuven\nsection: Top Employers\n\n- Cegeka\n- Luminus",
    "A question far longer than the model's 256 word pieces. " * 40,
]


@pytest.fixture(scope="module")
def embedders() -> dict:
    return {precision: default_embedder(Settings(embed_precision=precision))
            for precision in ("float32", "bfloat16", "auto")}


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_vectors_are_unit_length_and_one_equals_batch(embedders, precision):
    embedder = embedders[precision]
    assert embedder.precision == precision
    one = np.array([embedder.get_query_embedding(text) for text in TEXTS])
    batch = np.array(embedder.get_text_embedding_batch(TEXTS))
    assert one.shape == batch.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(one, axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert (one * batch).sum(axis=1).min() > 0.9999


def test_bfloat16_agrees_with_float32(embedders):
    full = np.array(embedders["float32"].get_text_embedding_batch(TEXTS))
    half = np.array(embedders["bfloat16"].get_text_embedding_batch(TEXTS))
    assert (full * half).sum(axis=1).min() > 0.999
    # and the ranking a question induces over the texts is the same
    question_full = np.array(embedders["float32"].get_query_embedding("pay of senior developers"))
    question_half = np.array(embedders["bfloat16"].get_query_embedding("pay of senior developers"))
    assert list(np.argsort(-(full @ question_full))) == list(np.argsort(-(half @ question_half)))


def test_auto_uses_bfloat16_only_where_the_cpu_has_it(embedders):
    assert embedders["auto"].precision == ("bfloat16" if native_bfloat16() else "float32")


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="embed_precision"):
        Settings(embed_precision="float16")
