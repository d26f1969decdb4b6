"""The packaged model in a process of its own (`model.ModelProcess`, used by one-shot
commands): the same vectors as in this process, clean errors when it cannot load or dies, and
`assistant ask` answering identically with it on and off."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

from assistant.embeddings import ProcessEmbedding
from assistant.errors import ModelUnavailable
from assistant.model import ModelProcess
from conftest import run_cli

pytestmark = pytest.mark.integration

QUESTIONS = [
    "What does a senior backend developer earn in Leuven?",
    "Wat verdient een junior ontwikkelaar in Gent?",
    "salary",
]


@pytest.fixture(scope="module")
def process(real_embedder):
    # The precision this process chose: "auto" times both at load, and on a busy machine two
    # loads can choose differently (then the vectors differ by ~1e-3, rightly).
    started = ModelProcess(precision=real_embedder.precision)
    yield started
    started.close()


def test_vectors_match_this_process(process, real_embedder):
    remote = ProcessEmbedding(process)
    for question in QUESTIONS:
        assert np.allclose(remote.get_query_embedding(question),
                           real_embedder.get_query_embedding(question), atol=1e-6)
    assert np.allclose(remote.embed_queries(QUESTIONS), real_embedder.embed_queries(QUESTIONS),
                       atol=1e-6)
    assert remote.uncased == real_embedder.uncased
    assert remote.describe()["precision"] == real_embedder.describe()["precision"]


def test_a_model_that_cannot_load_is_a_clean_error(tmp_path):
    broken = ModelProcess(tmp_path / "no-model-here")
    try:
        with pytest.raises(ModelUnavailable, match="embedding model failed"):
            broken.embed(["anything"])
    finally:
        broken.close()


def test_a_dead_process_is_a_clean_error_not_a_hang():
    dying = ModelProcess()
    try:
        dying.ready()
        os.kill(dying._process.pid, signal.SIGKILL)
        with pytest.raises(ModelUnavailable, match="ended"):
            dying.embed(["What do juniors earn in Leuven?"])
    finally:
        dying.close()


def test_close_ends_the_process():
    short = ModelProcess()
    short.ready()
    short.close()
    assert not short._process.is_alive()
    short.close()  # twice is fine


@pytest.mark.parametrize("question", [
    "What does a senior backend developer earn in Leuven?",
    "What is the best pizza in Naples?",
])
def test_ask_answers_the_same_in_one_process_or_two(shipped_index, real_embedder, question):
    env = {"ASSISTANT_INDEX": str(shipped_index.index), "ASSISTANT_LOG": "off",
           "ASSISTANT_EMBED_PRECISION": real_embedder.precision}  # one choice for both runs
    answers = []
    for separate in ("true", "false"):
        result = run_cli("ask", "--json", question, env={**env, "ASSISTANT_MODEL_PROCESS": separate})
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        answers.append({key: value for key, value in answer.items() if key not in ("id", "latency_ms")})
    assert answers[0] == answers[1]


@pytest.mark.parametrize("separate", ["true", "false"])
@pytest.mark.parametrize("model, said", [
    ("missing", "no model folder at"),
    ("empty", "the embedding model failed: "),  # a folder, but not a model's
])
def test_ask_with_a_broken_model_exits_1_with_one_line(shipped_index, tmp_path, separate,
                                                       model, said):
    (tmp_path / "empty").mkdir()
    result = run_cli("ask", "What do juniors earn in Leuven?",
                     env={"ASSISTANT_INDEX": str(shipped_index.index), "ASSISTANT_LOG": "off",
                          "ASSISTANT_MODEL_PROCESS": separate,
                          "ASSISTANT_EMBED_MODEL_PATH": str(tmp_path / model)})
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the embedding model failed") and said in last
    assert "Traceback" not in result.stderr
