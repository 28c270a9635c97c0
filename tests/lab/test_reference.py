"""autograder/lab_rnn/reference.py: grader LMs are the worker's GraderLM; the expected answers are the notebook's."""
from __future__ import annotations

import nbfactory
import numpy as np
import torch

from autograder.lab_rnn import reference as ref
from autograder.lab_rnn.worker.ops import GraderLM
from course.config import load_config

CFG = load_config()


def arrays(seed: int = 0) -> dict[str, np.ndarray]:
    return ref.lm_arrays(torch.Generator().manual_seed(seed), vocab=6, embed=3, hidden=5, scale=0.7)


def test_grader_lm_holds_the_weights_exactly_in_the_dtype_asked():
    weights = {k: v.astype(np.float64) + 1e-12 for k, v in arrays().items()}  # not representable in float32
    model = ref.lm_from_arrays(weights)
    assert type(model) is GraderLM and not model.training
    assert all(p.dtype == torch.float64 for p in model.parameters())
    back = ref.lm_param_arrays(model)
    assert list(back) == list(ref.LM_WEIGHTS)
    assert all(np.array_equal(back[k], weights[k]) for k in ref.LM_WEIGHTS)
    assert all(p.dtype == torch.float32 for p in ref.lm_from_arrays(arrays(), torch.float32).parameters())


def test_grader_lm_scores_like_the_worker_does():
    a = arrays(1)
    x = torch.randint(0, 6, (2, 7))
    trusted = ref.lm_from_arrays(a, torch.float32)
    worker = GraderLM(a).eval()  # what the worker builds from the same arrays
    torch.testing.assert_close(trusted(x)[0], worker(x)[0], rtol=0, atol=0)


def test_the_expected_train_epoch_is_the_notebooks_cell():
    train_epoch = ref.notebook_answer(CFG, "train_epoch")
    assert train_epoch.__name__ == "train_epoch" and train_epoch.__code__.co_filename == "<answer cell>"
    a = arrays(2)
    y = torch.randint(0, 6, (2, 4))
    batches = [(torch.randint(0, 6, (2, 4)), y), (torch.randint(0, 6, (2, 4)), y)]
    # the cell's text as the notebook file holds it, run with the setup cell's imports only
    namespace = {"torch": torch, "nn": torch.nn, "F": torch.nn.functional}
    exec(compile(nbfactory.answer_source("train_epoch"), "<the notebook's cell>", "exec"), namespace)
    results = []
    for fn in (train_epoch, namespace["train_epoch"]):
        model = ref.lm_from_arrays(a, torch.float32)
        loss = fn(model, batches, ref.PlainSGD(model.parameters(), lr=0.5), clip=1.0)
        results.append((loss, ref.lm_param_arrays(model)))
    assert results[0][0] == results[1][0]
    assert all(np.array_equal(results[0][1][k], results[1][1][k]) for k in ref.LM_WEIGHTS)
    assert not np.array_equal(results[0][1]["w_out"], a["w_out"].astype(np.float64))  # it trained
