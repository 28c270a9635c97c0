"""bench/gpu_recipe.py: the notebook's GPU recipe read from the notebook, scaled down, run by its own training cell."""
from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from course.authoring.solution import source_notebook
from course.config import load_config

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gpu_recipe.py"


@pytest.fixture(scope="module")
def gr():
    spec = importlib.util.spec_from_file_location("bench_gpu_recipe", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_gpu_recipe"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_gpu_recipe", None)


def test_the_recipe_is_the_notebooks_and_scales_as_documented(gr):
    cpu, gpu = gr.recipe(source_notebook(load_config()))
    assert {"STEPS", "EVAL_EVERY", "DECAY", "CLIP", "SAMPLES", "PROMPT"} <= set(cpu)
    assert set(gpu) == {"EMBED_SIZE", "HIDDEN_SIZE", "NUM_LAYERS", "DROPOUT", "BATCH_SIZE", "SEQ_LEN", "STEPS",
                        "EVAL_EVERY", "LR"}
    scaled = gr.scaled_settings(cpu, gpu, 16)
    assert scaled["BATCH_SIZE"] == gpu["BATCH_SIZE"] // 16
    assert (scaled["EMBED_SIZE"], scaled["HIDDEN_SIZE"]) == (gpu["EMBED_SIZE"] // 4, gpu["HIDDEN_SIZE"] // 4)
    for name in ("NUM_LAYERS", "DROPOUT", "SEQ_LEN", "STEPS", "EVAL_EVERY", "LR"):
        assert scaled[name] == gpu[name], name
    assert scaled["DECAY"] == cpu["DECAY"] and scaled["USE_GPU_CONFIG"] is False
    with pytest.raises(ValueError, match="a square"):
        gr.scaled_settings(cpu, gpu, 8)
    text = "".join(chr(65 + k % 26) * gr.BLOCK for k in range(40))
    part = gr.scaled_text(text, 16)
    assert len(part) == 3 * gr.BLOCK and part[:gr.BLOCK] == text[:gr.BLOCK]  # blocks 0, 16 and 32
    assert gr.scaled_text(text, 1) == text


def test_a_short_scaled_run_keeps_its_best_evaluation(gr, tmp_path):
    out = tmp_path / "gpu.json"
    assert gr.main(["--steps-factor", "0.04", "--set", "EVAL_EVERY=10", "SAMPLES=1", "--out", str(out)]) == 0
    (run,) = json.loads(out.read_text())["runs"]
    assert run["scale"] == 16 and run["settings"]["STEPS"] == 60 and run["overrides"]["EVAL_EVERY"] == 10
    assert run["steps"][-1] == 60 and len(run["heldout_bpc"]) == len(run["steps"]) >= 6
    assert run["best_bpc"] == min(run["heldout_bpc"]) and run["kept_bpc"] == pytest.approx(run["best_bpc"], abs=2e-4)
    assert run["best_step"] == run["steps"][run["heldout_bpc"].index(run["best_bpc"])]
    assert run["worse_at_the_end_by"] == pytest.approx(run["last_bpc"] - run["best_bpc"], abs=1e-4)
    assert 5 < run["parameters_per_train_char"] < 15 and math.isfinite(run["passes"])
    assert gr.main(["--set", "DROPUT=0.3", "--steps-factor", "0.01", "--out", str(out)]) == 2
