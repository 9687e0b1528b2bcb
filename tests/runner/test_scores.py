"""Per-sample scores of runs: scores.npz and the split manifests in env.json (runner.scores), written by tiny train
and evaluate runs of every problem, and the dataset-level metrics recomputed from them equal to metrics.json."""

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tests.helpers import TINY, compose_config
from visionbench.runner import scores as scores_module
from visionbench.runner.evaluate import evaluate
from visionbench.runner.scores import SCORES_FILE, read_scores, split_manifest, write_scores
from visionbench.runner.train import train
from visionbench.tasks.contract import problem_contract

TINY_FLOW_DATA = ["data.image_size=32", "data.val_size=5", "data.test_size=3", "data.batch_size=2"]
TINY_SYNTHETIC_MOT = ["data.num_sequences=2", "data.num_frames=30"]


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _split_metrics(metrics: dict[str, float | None], split: str) -> dict[str, float]:
    """metrics.json's entries of ``split`` (null read back as NaN), losses and timings left out."""
    return {
        key: math.nan if value is None else value
        for key, value in metrics.items()
        if key.startswith(f"{split}/") and "loss" not in key and key != f"{split}/FPS"
    }


def _assert_equal(recomputed: dict[str, float], expected: dict[str, float]) -> None:
    """Exactly equal, NaN equal to NaN."""
    assert recomputed.keys() == expected.keys()
    for key, value in expected.items():
        assert recomputed[key] == value or (math.isnan(recomputed[key]) and math.isnan(value)), key


def _run_config(run: Path) -> DictConfig:
    return OmegaConf.load(run / "config.yaml")


def _check_run(run: Path, splits: tuple[str, ...], class_names: list[str] | None = None) -> dict:
    """The checks every run's scores pass: unique ids in dataset order, manifests in env.json, metrics.json
    recomputed exactly, the resampled headline of counts of ones equal to the headline."""
    config = _run_config(run)
    contract = problem_contract(config)
    scores, metrics, environment = read_scores(run), _json(run / "metrics.json"), _json(run / "env.json")
    assert sorted(scores) == sorted(splits) == sorted(environment["splits"])
    assert environment["metric_code"] == contract.metric_code() and environment["model_parameters"] >= 0
    for split in splits:
        arrays = scores[split]
        ids = arrays["sample_id"].tolist()
        assert len(set(ids)) == len(ids) > 0
        assert environment["splits"][split] == {"manifest": split_manifest(ids), "samples": len(ids)}
        extra = {"class_names": class_names} if class_names is not None else {}
        _assert_equal(contract.metrics_from_scores(arrays, split, **extra), _split_metrics(metrics, split))
        headline = metrics[contract.headline.key(split)]
        ones = np.ones((3, len(ids)), dtype=np.int64)
        assert contract.resampled_headline(arrays, ones).tolist() == [headline] * 3
    return scores


# ---------------------------------------------------------------------------------------------------- runner.scores
def _example() -> dict[str, dict[str, np.ndarray]]:
    return {
        "val": {"sample_id": np.array(["b", "a", "c"]), "ap": np.array([0.5, 1.0, 0.25])},
        "test": {"sample_id": np.array(["x/1", "x/2"]), "counts": np.arange(8).reshape(2, 4)},
    }


def test_split_manifest_hashes_the_ids_in_order() -> None:
    assert split_manifest(["a", "b"]) == "sha256:" + hashlib.sha256(b"a\nb").hexdigest()
    assert split_manifest(["a", "b"]) != split_manifest(["b", "a"])


def test_scores_round_trip_with_their_manifests_in_env_json(tmp_path: Path) -> None:
    (tmp_path / "env.json").write_text(json.dumps({"seed": 3}))
    path = write_scores(tmp_path, _example())
    assert path == tmp_path / SCORES_FILE
    back = read_scores(tmp_path)
    for split, fields in _example().items():
        assert back[split].keys() == fields.keys()
        for field, values in fields.items():
            np.testing.assert_array_equal(back[split][field], values)
    environment = _json(tmp_path / "env.json")
    assert environment["seed"] == 3
    assert environment["splits"]["val"] == {"manifest": split_manifest(["b", "a", "c"]), "samples": 3}
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        write_scores(tmp_path, _example())


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"ap": np.zeros(2)}, "no 'sample_id'"),
        ({"sample_id": np.array(["a", "a"]), "ap": np.zeros(2)}, "more than once"),
        ({"sample_id": np.array(["a", "b"]), "ap": np.zeros(3)}, "one entry per sample"),
        ({"sample_id": np.array([1, 2])}, "strings"),
        ({"sample_id": np.array(["a"]), "a/b": np.zeros(1)}, "may not be empty nor hold '/'"),
    ],
)
def test_malformed_scores_are_refused(tmp_path: Path, fields: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        write_scores(tmp_path, {"val": fields})
    assert not (tmp_path / SCORES_FILE).exists()


def test_an_interrupted_write_leaves_no_scores_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "env.json").write_text("{}")

    def killed(stream, **arrays) -> None:
        stream.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(scores_module.np, "savez_compressed", killed)
    with pytest.raises(KeyboardInterrupt):
        write_scores(tmp_path, _example())
    assert sorted(path.name for path in tmp_path.iterdir()) == ["env.json"]  # no scores.npz, no partial file
    assert _json(tmp_path / "env.json") == {}
    with pytest.raises(FileNotFoundError, match="wrote no per-sample scores"):
        read_scores(tmp_path)


def test_a_truncated_or_mismatched_file_is_refused(tmp_path: Path) -> None:
    write_scores(tmp_path, _example())
    data = (tmp_path / SCORES_FILE).read_bytes()
    environment = _json(tmp_path / "env.json")
    environment["splits"]["val"]["manifest"] = split_manifest(["a", "b", "c"])
    (tmp_path / "env.json").write_text(json.dumps(environment))
    with pytest.raises(ValueError, match="does not match the manifest"):
        read_scores(tmp_path)
    (tmp_path / SCORES_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        read_scores(tmp_path)


# ---------------------------------------------------------------------------------------------------- runs
def test_segmentation_train_and_evaluate_runs_write_scores_that_give_metrics_json(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    cfg = compose_config("train", TINY, run)
    train(cfg)
    names = list(instantiate(cfg.data).class_names)
    scores = _check_run(run, ("val", "test"), names)
    assert scores["val"]["sample_id"].tolist() == [f"val/{i:06d}" for i in range(8)]
    assert scores["val"]["intersection"].shape == (8, len(names)) and scores["val"]["union"].dtype == np.int64

    evaluated = tmp_path / "eval"
    evaluated.mkdir()
    evaluate(compose_config("evaluate", [f"run_dir={run}", "split=test"], evaluated))
    again = _check_run(evaluated, ("test",), names)
    for field, values in scores["test"].items():  # the same model on the same samples: the same scores
        np.testing.assert_array_equal(again["test"][field], values)
    assert _json(evaluated / "env.json")["splits"]["test"] == _json(run / "env.json")["splits"]["test"]
    config = _run_config(evaluated)
    assert config.evaluation.split == "test" and Path(config.evaluation.run_dir) == run.resolve()
    assert config.evaluation.checkpoint.endswith(".ckpt") and config.evaluation.model_weights is None
    assert config.model._target_ == cfg.model._target_


def test_flow_evaluation_of_a_classical_method_writes_per_pair_scores(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    out.mkdir()
    overrides = ["task=flow", "model=flow/horn_schunck", "data=flow/synthetic_flow", *TINY_FLOW_DATA]
    evaluate(compose_config("evaluate", overrides, out))
    scores = _check_run(out, ("val",))["val"]
    assert scores["sample_id"].tolist() == [f"val/{i:06d}" for i in range(5)]
    assert {"epe_sum", "valid", "px1", "px3", "px5", "fl", "valid_noc", "fl_occ"} <= scores.keys()
    np.testing.assert_array_equal(scores["valid_noc"] + scores["valid_occ"], scores["valid"])
    metrics = _json(out / "metrics.json")
    assert 0.0 <= metrics["val/Fl"] <= 1.0 and metrics["val/Fl"] == scores["fl"].sum() / scores["valid"].sum()
    environment = _json(out / "env.json")
    assert environment["model_parameters"] == 0 and environment["device"]["accelerator"] == "cpu"
    assert _run_config(out).evaluation.model_weights is None


def test_reid_run_writes_per_query_scores(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    overrides = ["task=reid", "model.width=4", "model.input_size=[32,16]", "model.embedding_dim=16"]
    for split in ("train", "val", "test"):
        overrides += [f"data.{split}.root={tmp_path / 'mot'}", f"+data.{split}.num_sequences=1"]
        overrides += [f"+data.{split}.num_frames=30"]
    overrides += ["data.batch_size=16", "data.eval_frame_stride=4", "data.min_frame_gap=10"]
    overrides += ["trainer.max_epochs=1", "trainer.limit_train_batches=1"]
    train(compose_config("train", overrides, run))
    scores = _check_run(run, ("val", "test"))
    val = scores["val"]
    assert val.keys() == {"sample_id", "ap", "rank1", "rank5", "rank10"}
    assert len(val["ap"]) == _json(run / "metrics.json")["val/num_queries"]
    sequence, frame, track = val["sample_id"][0].split("/")  # <sequence>/<frame>/<track id>
    assert sequence == "synth-val-01" and frame.isdigit() and track.isdigit()


def test_tracking_evaluation_writes_per_sequence_scores(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    out.mkdir()
    evaluate(compose_config("evaluate", ["task=tracking", f"paths.data_dir={tmp_path}", *TINY_SYNTHETIC_MOT], out))
    scores = _check_run(out, ("test",))["test"]
    names = scores["sample_id"].tolist()
    assert names == sorted(path.stem for path in (out / "data").iterdir()) and len(names) == 2
    assert scores["HOTA_TP_alpha"].shape == (2, 19) and scores["IDSW"].dtype == np.int64
    assert _json(out / "env.json")["model_parameters"] == 0  # SORT has no network
