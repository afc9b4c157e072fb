"""Name resolution and the errors a researcher meets when files are missing or wrong."""

from __future__ import annotations

import shutil

import pytest
import torch

import interp
from interp.loading import PYTHIA_STEPS, parse_dtype, resolve


def test_hub_ids_and_revisions_resolve_without_loading():
    assert resolve("EleutherAI/pythia-160m@step3000").revision == "step3000"
    assert resolve("EleutherAI/pythia-160m", revision="step512").location == "EleutherAI/pythia-160m"
    assert resolve("facebook/opt-125m").revision is None


def test_pythia_steps_follow_the_published_schedule():
    assert len(PYTHIA_STEPS) == 154
    with pytest.raises(ValueError, match="no checkpoint at step 1500.*step1000, step2000"):
        resolve("EleutherAI/pythia-70m@step1500")
    with pytest.raises(ValueError, match="no training-step revisions"):
        resolve("facebook/opt-125m@step1000")
    with pytest.raises(ValueError, match="give one of them"):
        resolve("EleutherAI/pythia-70m@step1000", revision="step2000")


def test_offline_hub_model_names_the_three_ways_to_supply_it(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(interp.ModelNotFoundError) as caught:
        interp.load_model("EleutherAI/pythia-14m@step1000")
    message = str(caught.value)
    assert "EleutherAI/pythia-14m" in message and "step1000" in message
    for way in ("network", "HF cache", "local directory"):
        assert way in message


def test_local_directory_loads_with_dtype(checkpoint_dirs):
    model = interp.load_model(checkpoint_dirs["neox"], dtype="float64", self_test=False)
    assert next(model.original_model.parameters()).dtype == torch.float64


def test_unsupported_architecture_lists_the_supported(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    from tests.checkpoints import build_tokenizer

    GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=80)).save_pretrained(tmp_path)
    build_tokenizer().save_pretrained(tmp_path)
    with pytest.raises(interp.UnsupportedArchitectureError, match="GPTNeoXForCausalLM, OPTForCausalLM"):
        interp.load_model(tmp_path)


def test_corrupt_weights_are_named(checkpoint_dirs, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint_dirs["opt"], broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(interp.CorruptCheckpointError, match="corrupt or truncated") as caught:
        interp.load_model(broken)
    # A folder saved by hand is not a hub download: re-saving it is the fix.
    assert "re-save the model with save_pretrained (or re-download it if it came from the hub)" in str(
        caught.value)


def test_missing_weights_and_missing_tensors(checkpoint_dirs, tmp_path):
    from safetensors.torch import load_file, save_file

    no_weights = tmp_path / "no_weights"
    shutil.copytree(checkpoint_dirs["opt"], no_weights)
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(interp.ModelNotFoundError, match="weights"):
        interp.load_model(no_weights)

    partial = tmp_path / "partial"
    shutil.copytree(checkpoint_dirs["opt"], partial)
    tensors = load_file(partial / "model.safetensors")
    dropped = next(k for k in tensors if "fc1.weight" in k)
    del tensors[dropped]
    save_file(tensors, partial / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(interp.CorruptCheckpointError, match="random weights"):
        interp.load_model(partial)


def test_unknown_suite_model_and_bad_paths(tmp_path):
    with pytest.raises(interp.ModelNotFoundError, match="unknown suite model"):
        interp.load_model("suite/no-such-model")
    with pytest.raises(interp.ModelNotFoundError, match="neither a local directory"):
        interp.load_model("./no/such/dir")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(interp.ModelNotFoundError, match="is a file"):
        interp.load_model(tmp_path / "file.txt")


def test_local_step_checkpoints_resolve(checkpoint_dirs, tmp_path):
    root = tmp_path / "run"
    shutil.copytree(checkpoint_dirs["neox"], root / "step100")
    assert resolve(f"{root}@step100").location == str(root / "step100")
    with pytest.raises(interp.ModelNotFoundError, match="available: step100"):
        resolve(f"{root}@step7")


def test_dtype_names():
    assert parse_dtype("bf16") is torch.bfloat16 and parse_dtype(None) is None
    with pytest.raises(ValueError, match="unknown dtype 'int3'"):
        parse_dtype("int3")


def test_fingerprint_follows_the_weights_not_the_path(checkpoint_dirs, tmp_path):
    """Cached study results are keyed by it: retrained weights under one name must not match."""

    from safetensors.torch import load_file, save_file

    source = next(iter(checkpoint_dirs.values()))
    copy = tmp_path / "moved"
    shutil.copytree(source, copy)
    assert interp.fingerprint(copy) == interp.fingerprint(source)
    weights = next(copy.glob("*.safetensors"))
    state = load_file(weights)
    name = sorted(state)[-1]
    state[name] = state[name] + 1
    save_file(state, weights, metadata={"format": "pt"})
    assert interp.fingerprint(copy) != interp.fingerprint(source)


def test_a_bridge_tokenizes_and_scores_like_its_hf_model(checkpoint_dirs):
    """TransformerBridge would prepend a BOS the model never trained on; interp keeps the
    model's own tokenizer, so the Bridge and the plain HF model score identically."""
    from interp.tasks import get_task

    task = get_task("arithmetic_add", n=12)
    for path in checkpoint_dirs.values():
        bridge, hf = interp.load_model(path), interp.load_hf_model(path)
        prompt = task.examples[0].prompt
        assert bridge.tokenizer(prompt).input_ids == hf.tokenizer(prompt).input_ids
        assert bridge.to_tokens(prompt).tolist() == [hf.tokenizer(prompt).input_ids]
        with_bos = bridge.to_tokens(prompt, prepend_bos=True)[0].tolist()
        assert with_bos == [hf.tokenizer.bos_token_id, *hf.tokenizer(prompt).input_ids]
        scored = [interp.evaluate(m, [task]) for m in (bridge, hf)]
        assert scored[0].loss.item() == pytest.approx(scored[1].loss.item(), abs=1e-5)


# --- Non-finite weights, non-floating dtypes, and repair hints by source. ---------------

from interp.loading import ModelSource, _repair_hint  # noqa: E402
from interp.scoring import NonFiniteScoreError  # noqa: E402

BAD = "gpt_neox.layers.0.mlp.dense_h_to_4h.weight"


@pytest.fixture(scope="module")
def nan_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nan_checkpoint")
    model = interp.load_hf_model("suite/pythia-s1")
    with torch.no_grad():
        model.get_parameter(BAD)[0, 0] = float("nan")
        model.get_parameter(BAD)[1, 0] = float("inf")
    model.save_pretrained(folder)
    model.tokenizer.save_pretrained(folder)
    return folder


def test_non_finite_weights_are_refused_by_both_loaders(nan_checkpoint):
    for load in (interp.load_model, interp.load_hf_model):
        with pytest.raises(interp.CorruptCheckpointError) as caught:
            load(nan_checkpoint)
        message = str(caught.value)
        assert f"{BAD} holds 1 NaN, 1 inf of" in message
        assert str(nan_checkpoint / "model.safetensors") in message
        assert "check_finite=False" in message


@pytest.mark.parametrize("values", [(float("inf"), float("-inf")), (3e38, 3e38)])
def test_the_finite_check_is_exact_where_a_sum_is_not(values):
    """inf and -inf sum to NaN (caught); two finite 3e38 overflow the sum (still loads)."""
    from interp.loading import _check_finite

    model = interp.load_hf_model("suite/pythia-s1")
    with torch.no_grad():
        model.get_parameter(BAD)[0, :2] = torch.tensor(values)
    source = ModelSource(name="probe", location="probe", revision=None, is_local=True)
    if all(abs(v) < float("inf") for v in values):
        _check_finite(source, model)
    else:
        with pytest.raises(interp.CorruptCheckpointError, match="holds 2 inf"):
            _check_finite(source, model)


def test_check_finite_false_loads_and_scoring_still_refuses(nan_checkpoint):
    hf = interp.load_hf_model(nan_checkpoint, check_finite=False)
    weight = hf.get_parameter(BAD)
    assert torch.isnan(weight[0, 0]) and torch.isinf(weight[1, 0]) and torch.isfinite(weight[2:]).all()
    bridge = interp.load_model(nan_checkpoint, check_finite=False, self_test=False)
    with pytest.raises(NonFiniteScoreError, match=str(nan_checkpoint)):
        interp.evaluate(bridge, [interp.get_task("arithmetic_add", n=8)])


def test_finite_checkpoints_still_load_with_the_check(checkpoint_dirs):
    for path in checkpoint_dirs.values():
        model = interp.load_hf_model(path)
        assert all(torch.isfinite(p).all() for p in model.parameters())


def test_non_floating_dtypes_are_refused_in_one_line():
    for dtype in (torch.int8, "int8", "torch.int8", torch.bool, torch.complex64):
        with pytest.raises(ValueError) as caught:
            parse_dtype(dtype)
        message = str(caught.value)
        assert "\n" not in message and "float32, float16, bfloat16, float64" in message
        assert "is not a floating-point dtype; use one of" in message
    assert parse_dtype("torch.float16") is torch.float16 and parse_dtype(torch.float64) is torch.float64
    with pytest.raises(ValueError, match="dtype torch.int8 is not a floating-point dtype"):
        interp.load_model("suite/pythia-s1", dtype=torch.int8)  # was a CorruptCheckpointError


def test_repair_hints_follow_where_the_files_came_from(tmp_path):
    local = _repair_hint(ModelSource(str(tmp_path), str(tmp_path), None, True))
    assert local == "re-save the model with save_pretrained (or re-download it if it came from the hub)"
    hub = _repair_hint(ModelSource("EleutherAI/pythia-70m@step1000", "EleutherAI/pythia-70m", "step1000", False))
    assert "hf download EleutherAI/pythia-70m --revision step1000 --force-download" in hub
    snapshot = tmp_path / "hub" / "models--EleutherAI--pythia-70m" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    cached = _repair_hint(ModelSource(str(snapshot), str(snapshot), None, True))
    assert "hf download EleutherAI/pythia-70m --force-download" in cached
    suite = _repair_hint(interp.resolve("suite/pythia-s1"))
    assert "git checkout" in suite and "save_pretrained" not in suite
