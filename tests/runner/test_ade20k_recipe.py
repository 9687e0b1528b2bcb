"""The ADE20K experiments: every row is mmsegmentation's recipe, has its published number, and trains (smoke)."""

import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.helpers import CONF, REPO, compose_config
from visionbench.runner.train import train

FIXTURE = REPO / "tests/fixtures/ade20k/ADEChallengeData2016"
ROWS = sorted(p.stem for p in (CONF / "experiment/ade20k").glob("*.yaml") if p.stem != "recipe")
PUBLISHED = OmegaConf.load(REPO / "experiments/ade20k.yaml")


def test_every_row_has_its_published_entry() -> None:
    assert set(ROWS) == set(PUBLISHED.rows)
    expected = {f"{m}_r{d}-d8_{s}k" for m in ("fcn", "pspnet", "deeplabv3", "deeplabv3plus") for d in (50, 101)
                for s in (80, 160)}  # fmt: skip
    assert expected <= set(ROWS)
    assert PUBLISHED.rows["fcn_r50-d8_80k"].published.mIoU == 35.94
    assert PUBLISHED.rows["pspnet_r50-d8_80k"].published.mIoU == 41.13
    assert PUBLISHED.rows["deeplabv3_r50-d8_80k"].published.mIoU == 42.42
    assert PUBLISHED.rows["deeplabv3plus_r50-d8_80k"].published.mIoU == 42.72


@pytest.mark.parametrize("row", ROWS)
def test_row_is_the_recipe(row: str, tmp_path: Path) -> None:
    cfg = compose_config("train", [f"experiment=ade20k/{row}"], tmp_path)
    assert cfg.data._target_.endswith("ADE20KDataModule")
    assert (list(cfg.data.scale), list(cfg.data.ratio_range), list(cfg.data.crop_size)) == (
        [2048, 512],
        [0.5, 2.0],
        [512, 512],
    )
    assert cfg.data.cat_max_ratio == 0.75 and cfg.data.photometric_distortion and cfg.data.reduce_zero_label
    assert cfg.total_batch_size == 16
    assert cfg.optim._target_ == "torch.optim.SGD"
    assert (cfg.optim.lr, cfg.optim.momentum, cfg.optim.weight_decay) == (0.01, 0.9, 0.0005)
    assert cfg.sched._target_ == "visionbench.optim.poly" and (cfg.sched.power, cfg.sched.min_lr) == (0.9, 1e-4)
    iterations = 160_000 if row.endswith("160k") else 80_000
    assert (cfg.trainer.max_steps, cfg.trainer.max_epochs) == (iterations, -1)
    assert cfg.trainer.val_check_interval == iterations // 10 and cfg.trainer.check_val_every_n_epoch is None
    assert cfg.trainer.sync_batchnorm is True
    assert cfg.task.aux_weight == 0.4
    if "-d8" in row:
        depth = int(row.split("_r")[1].split("-")[0])
        assert (cfg.model.backbone.depth, cfg.model.backbone.output_stride) == (depth, 8)
        assert cfg.model.backbone.deep_stem is True and cfg.model.aux_head is True


@pytest.fixture
def ade20k_copy(tmp_path: Path) -> Path:
    """The fixture with its 3 validation images also serving as the training split."""
    root = tmp_path / "ADEChallengeData2016"
    shutil.copytree(FIXTURE, root)
    for kind in ("images", "annotations"):
        shutil.copytree(root / kind / "validation", root / kind / "training")
    return root


@pytest.mark.slow
def test_recipe_trains_two_steps_on_the_fixture(ade20k_copy: Path, tmp_path: Path) -> None:
    """The row's whole pipeline on CPU: ADE20K loader, pipelines, total batch, poly SGD, SyncBN flag, aux head,
    validation at the original resolution. ResNet-18 and 128x128 crops keep it within seconds."""
    overrides = [
        "experiment=ade20k/deeplabv3_r50-d8_80k",
        f"data.root={ade20k_copy}",
        "trainer.max_steps=2",
        "data.num_workers=0",
        "model.backbone.depth=18",
        "data.crop_size=[128,128]",
        "data.scale=[512,128]",
        "callbacks=minimal",
    ]
    (tmp_path / "run").mkdir()
    cfg = compose_config("train", overrides, tmp_path / "run")
    score = train(cfg)
    assert 0.0 <= score <= 1.0
    metrics = OmegaConf.load(tmp_path / "run/metrics.json")
    assert "val/mIoU" in metrics and "test/mIoU" in metrics
    assert sum(key.startswith("val/IoU/") for key in metrics) == 150  # one entry per ADE20K class
