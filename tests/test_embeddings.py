"""The packaged model in each precision: unit vectors, one text = the same text in a batch,
and bfloat16 agreeing with float32 closely enough that an index built in one answers
questions embedded in the other."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from assistant.embeddings import default_embedder
from assistant.model import (
    BF16_FLAGS,
    QueryForward,
    choose_precision,
    cpu_flags,
    forward,
    native_bfloat16,
)
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
    assert embedders["auto"].describe() == {"name": embedders["auto"].model_name, "loaded": False}
    precision = embedders["auto"].precision  # loads the model: the choice is made then
    described = embedders["auto"].describe()
    assert described["loaded"] and described["precision"] == precision
    if not native_bfloat16():
        assert embedders["auto"].precision == "float32"
        assert "flag" in described["reason"]
    else:  # both timed at load, the faster kept
        timings = described["timings_ms"]
        assert set(timings) == {"float32", "bfloat16"}
        assert described["precision"] == min(timings, key=timings.get)
    for forced in ("float32", "bfloat16"):
        embedders[forced].load()
        assert embedders[forced].describe()["reason"] == f"ASSISTANT_EMBED_PRECISION={forced}"


# Padding a question to a batch's length moves its vector by ~1e-7 in float32, and by up to
# ~5e-5 in bfloat16 (measured 0.99995 on a CPU with native bfloat16), so a bfloat16 batch
# runs a pass per token length: there each question's vector is the one it gets alone.
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_batched_questions_match_one_by_one(embedders, precision):
    embedder = embedders[precision]
    texts = [*TEXTS, "What do senior backend developers earn in Leuven?",
             "Which companies hire backend developers in Leuven, and which universities train them?"]
    one = np.array([embedder.get_query_embedding(text) for text in texts])
    batch = np.array(embedder.embed_queries(texts))
    if precision == "float32" or not native_bfloat16(cpu_flags()):
        assert (one * batch).sum(axis=1).min() > (0.99999 if precision == "float32" else 0.9999)
    else:  # measured bit for bit where bfloat16 is native; emulated kernels are not promised
        assert np.array_equal(one, batch)


def test_cpu_flags_are_read_not_assumed(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f\n\nprocessor\t: 1\n")
    assert cpu_flags(info) == {"fpu", "sse", "avx2", "avx512f"}
    assert not native_bfloat16(cpu_flags(info))  # avx512f alone emulates bfloat16
    assert cpu_flags(tmp_path / "missing") is None
    (tmp_path / "empty").write_text("processor: 0\n")
    assert cpu_flags(tmp_path / "empty") is None
    assert native_bfloat16(frozenset({"avx512f", "avx512_bf16"}))


def timer(timings: dict[str, float], calls: list[str]):
    def time_ms(precision: str) -> float:
        calls.append(precision)
        return timings[precision]
    return time_ms


def test_precision_choice_times_only_where_bfloat16_is_native():
    calls: list[str] = []
    fast_bf16 = timer({"float32": 30.0, "bfloat16": 12.0}, calls)
    no_bf16 = choose_precision("auto", frozenset({"avx2", "avx512f"}), fast_bf16)
    assert no_bf16.precision == "float32" and calls == []  # emulated: never even timed
    assert choose_precision("auto", None, fast_bf16).precision == "float32" and calls == []
    for flag in BF16_FLAGS:
        calls.clear()
        chosen = choose_precision("auto", frozenset({"avx2", flag}), fast_bf16)
        assert chosen.precision == "bfloat16" and sorted(calls) == ["bfloat16", "float32"]
        assert chosen.timings_ms == {"float32": 30.0, "bfloat16": 12.0}
    slow_bf16 = timer({"float32": 10.0, "bfloat16": 25.0}, [])
    assert choose_precision("auto", frozenset({"amx_bf16"}), slow_bf16).precision == "float32"
    # the setting overrides, untimed
    forced = choose_precision("bfloat16", frozenset({"avx2"}), fast_bf16)
    assert forced.precision == "bfloat16" and forced.reason == "ASSISTANT_EMBED_PRECISION=bfloat16"


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="embed_precision"):
        Settings(embed_precision="float16")


# Lengths from a few words to past the model's 256 word pieces, in no order: three batches
# of 64, so the ingest's workers each take several.
MANY = [f"{i} " + " ".join(["hiring backend developers in Leuven"] * (1 + i * 7 % 23))
        for i in range(150)]


def test_ingest_batches_are_sentence_transformers_vectors(embedders):
    import torch

    embedder = embedders["float32"]
    model = embedder.load()
    torch.set_num_threads(embedder._batch_threads)
    expected = torch.nn.functional.normalize(model.encode(
        MANY, batch_size=embedder.embed_batch_size, normalize_embeddings=False,
        convert_to_tensor=True, show_progress_bar=False).float(), dim=1).numpy()
    torch.set_num_threads(1)  # as a busy machine's last question left it
    vectors = embedder.embed_texts(MANY)
    assert vectors.dtype == np.float32 and vectors.shape == (len(MANY), 384)
    # The same batches as `encode`, one torch thread per worker: equal to float rounding
    # (bit for bit on this project's machine).
    assert np.abs(vectors - expected).max() < 1e-6
    # every core again for whoever comes next (ours ran as workers of one thread each)
    assert torch.get_num_threads() == embedder._batch_threads


class _LengthModel:
    """Stands in for the sentence-transformers model: a text's vector is (length, 1)."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on
        self.batches: list[list[str]] = []

    def preprocess(self, texts):
        self.batches.append(list(texts))
        return texts

    def __call__(self, texts):
        import torch

        if self.fail_on in texts:
            raise RuntimeError(f"cannot embed {self.fail_on!r}")
        return {"sentence_embedding": torch.tensor([[float(len(t)), 1.0] for t in texts])}


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_worker_batches_come_back_in_the_callers_order(workers):
    from pathlib import Path

    from assistant.embeddings import SentenceTransformerEmbedding

    embedder = SentenceTransformerEmbedding(Path("unused"), batch_size=4)
    embedder._model, embedder._batch_threads = _LengthModel(), workers
    texts = ["x" * (i * 5 % 17 + 1) for i in range(30)]
    vectors = embedder.embed_texts(texts)
    raw = np.array([[len(t), 1.0] for t in texts])
    assert np.allclose(vectors, raw / np.linalg.norm(raw, axis=1, keepdims=True))
    # sentence-transformers' batches: longest first, 4 at a time (taken in that order)
    batches = embedder._model.batches
    assert [len(batch) for batch in batches] == [4] * 7 + [2]
    lengths = [len(text) for batch in batches for text in batch]
    assert lengths == sorted(lengths, reverse=True)


def test_a_worker_failure_is_raised_not_lost():
    from pathlib import Path

    from assistant.embeddings import SentenceTransformerEmbedding

    embedder = SentenceTransformerEmbedding(Path("unused"), batch_size=2)
    embedder._model, embedder._batch_threads = _LengthModel(fail_on="boom"), 2
    with pytest.raises(RuntimeError, match="cannot embed 'boom'"):
        embedder.embed_texts(["a", "bb", "boom", "cccc", "ddddd", "e"])


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_the_traced_question_pass_gives_the_eager_vectors(embedders, precision):
    model = embedders[precision].load()
    queries = QueryForward(model)
    assert queries.traced, queries.reason
    # one by one, and as one padded batch (the longest text past the model's 256 pieces)
    for batch in [[text] for text in TEXTS] + [TEXTS]:
        eager, traced = np.array(forward(model, batch)), np.array(queries(batch))
        assert (eager * traced).sum(axis=1).min() > 0.99999
    embedders[precision].get_query_embedding("warm")
    assert embedders[precision].describe()["query_pass"].startswith("traced")


def test_the_trace_can_be_turned_off():
    embedder = default_embedder(Settings(embed_trace=False))
    vector = embedder.get_query_embedding(TEXTS[1])
    assert embedder.describe()["query_pass"].startswith("eager: tracing turned off")
    assert np.allclose(vector, forward(embedder.load(), [TEXTS[1]])[0])


class DriftingModel:
    """Its eager output changes with every call, so a trace (one call's constants) disagrees."""

    def __init__(self, fail_in_trace: bool = False) -> None:
        self.calls, self.fail_in_trace = 0, fail_in_trace

    def preprocess(self, texts):
        return {"input_ids": torch.tensor([[float(len(text)), 1.0] for text in texts]), "modality": "text"}

    def __call__(self, features):
        if self.fail_in_trace and torch.jit.is_tracing():
            raise RuntimeError("not traceable")
        self.calls += 1
        return {"sentence_embedding": features["input_ids"] + self.calls}


@pytest.mark.parametrize("fail_in_trace, reason", [(False, "eager: the traced pass disagreed"),
                                                    (True, "eager: tracing failed (RuntimeError")])
def test_a_trace_that_fails_or_disagrees_leaves_the_eager_pass(fail_in_trace, reason):
    model = DriftingModel(fail_in_trace)
    queries = QueryForward(model)
    assert not queries.traced and queries.reason.startswith(reason)
    calls = model.calls
    vector = np.array(queries(["abc"])[0])
    assert model.calls == calls + 1  # the eager model ran, not a trace
    expected = np.array([3.0, 1.0]) + model.calls
    assert np.allclose(vector, expected / np.linalg.norm(expected))
