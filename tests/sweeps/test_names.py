"""Job folder names derived from overrides: stable, distinct, made of safe characters."""

import re

import pytest

from visionbench.sweeps.names import hash_of_name, job_dir_name, overrides_hash, varying_keys

JOB = ["loss=dice", "model.depth=3", "trainer.max_epochs=1"]


def test_the_same_overrides_give_the_same_name_and_hash_in_any_order() -> None:
    name = job_dir_name(JOB, ["loss", "model.depth"])
    assert name == job_dir_name(list(JOB), ["loss", "model.depth"])
    assert name == f"loss=dice,model.depth=3__{overrides_hash(JOB)}"
    assert hash_of_name(job_dir_name(list(reversed(JOB)), ["loss", "model.depth"])) == hash_of_name(name)


@pytest.mark.parametrize("changed", ["loss=ce", "model.depth=4", "trainer.max_epochs=2"])
def test_any_different_override_gives_another_name(changed: str) -> None:
    key = changed.partition("=")[0]
    other = [changed if o.startswith(f"{key}=") else o for o in JOB]
    assert job_dir_name(other, ["loss"]) != job_dir_name(JOB, ["loss"])
    assert job_dir_name([*JOB, "+model.extra=1"], ["loss"]) != job_dir_name(JOB, ["loss"])


def test_names_hold_only_safe_characters_and_are_bounded() -> None:
    overrides = [
        "model.weights=/data/my weights/w (1).pt",
        "data.sizes=[1,2]",
        "+note='${oc.env:HOME}'",
        "x=" + "a" * 200,
    ]
    name = job_dir_name(overrides, ["model.weights", "data.sizes", "note", "x"])
    readable, digest = name.rsplit("__", 1)
    assert re.fullmatch(r"[A-Za-z0-9._=,+-]+", readable) and len(readable) == 80
    assert readable.startswith("model.weights=_data_my_weights_w__1_.pt,data.sizes=_1,2_,note=__")
    assert re.fullmatch(r"[0-9a-f]{8}", digest)


def test_a_job_without_varying_keys_is_named_job() -> None:
    assert job_dir_name(JOB, []) == f"job__{overrides_hash(JOB)}"
    assert hash_of_name("0") is None and hash_of_name("failed_attempts") is None and hash_of_name("a__xyz") is None


def test_varying_keys_differ_between_jobs_or_are_set_by_some_only() -> None:
    jobs = [["loss=ce", "seed=1", "a=1"], ["loss=dice", "seed=1", "a=1"], ["loss=ce", "seed=1", "a=1", "+b=2"]]
    assert varying_keys(jobs) == ["loss", "b"]
    assert varying_keys([JOB]) == []
