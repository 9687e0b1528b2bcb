"""Re-identification: DeepSORT's appearance network and encoder, the cosine-softmax loss, CMC / mAP, the crops
datamodule on a hand-made MOT folder, and `train.py task=reid` end to end."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.helpers import CONF, compose_config
from tests.helpers.models import compose_model
from visionbench.data.tracking.crops import crop_windows, crops_to_tensor, cut_crops
from visionbench.data.tracking.mot import MotSequence
from visionbench.data.tracking.mot_io import SequenceInfo, write_seqinfo
from visionbench.data.tracking.reid import (
    CropAugmentation,
    ReidCropsDataModule,
    ground_truth_crops,
    query_gallery_split,
    video_name,
)
from visionbench.losses import CosineSoftmaxLoss
from visionbench.metrics.reid import ReidMetrics, cosine_distance, retrieval_scores
from visionbench.models.tracking.appearance import AppearanceEncoder, AppearanceNet
from visionbench.runner.builders import build_model
from visionbench.runner.evaluate import evaluate
from visionbench.runner.train import train

SMALL = {"width": 4, "embedding_dim": 16, "input_size": (32, 16), "dropout": 0.0}
APPEARANCE_YAML = CONF / "model" / "tracking" / "appearance.yaml"


def _net(**overrides) -> AppearanceNet:
    torch.manual_seed(0)
    return AppearanceNet(**{**SMALL, **overrides}).eval()


# ---------------------------------------------------------------------------------------------------- network
def test_network_gives_unit_norm_embeddings() -> None:
    net = _net()
    embeddings = net(torch.randn(5, 3, 32, 16))
    assert embeddings.shape == (5, 16)
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(5), atol=1e-5)
    with pytest.raises(ValueError, match="expected crops"):
        net(torch.randn(2, 3, 64, 32))
    with pytest.raises(ValueError, match="multiples of 8"):
        AppearanceNet(input_size=(100, 50))


def test_default_network_is_the_papers_size() -> None:
    net = AppearanceNet()
    assert net.input_size == (128, 64) and net.embedding_dim == 128
    assert 2.7e6 < sum(p.numel() for p in net.parameters()) < 2.9e6  # Wojke and Bewley 2018: 2.8M
    assert AppearanceNet(**net.config()).config() == net.config()


@pytest.mark.parametrize(
    ("size", "input_size", "parameters"), [("default", (128, 64), 2_801_632), ("small", (64, 32), 439_280)]
)
def test_appearance_config_builds_the_network_at_both_sizes(
    size: str, input_size: tuple[int, int], parameters: int
) -> None:
    """conf/model/tracking/appearance.yaml: the paper's network, and at model_size=small half its width on 64x32."""
    config = compose_model("tracking", "appearance") if size == "small" else OmegaConf.load(APPEARANCE_YAML)
    torch.manual_seed(0)
    net = build_model(config).eval()
    assert isinstance(net, AppearanceNet) and net.input_size == input_size
    assert sum(p.numel() for p in net.parameters()) == parameters
    with torch.no_grad():
        embeddings = net(torch.randn(3, 3, *input_size))
    assert embeddings.shape == (3, 128)
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(3))


# ---------------------------------------------------------------------------------------------------- encoder
def _noise_frame(height: int = 120, width: int = 160, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_encoder_embeds_exactly_the_boxed_region() -> None:
    encoder = AppearanceEncoder(_net())
    patch = np.zeros((32, 16, 3), dtype=np.uint8)
    patch[:16] = (250, 20, 30)
    patch[16:] = (10, 40, 220)
    first, second = _noise_frame(seed=1), _noise_frame(seed=2)
    first[40:72, 60:76] = patch
    second[80:112, 5:21] = patch
    features = encoder(first, np.array([[60.0, 40.0, 76.0, 72.0]]))
    moved = encoder(second, np.array([[5.0, 80.0, 21.0, 112.0]]))
    alone = encoder.network(crops_to_tensor(patch[None])).detach().numpy()
    assert features.shape == (1, 16) and features.dtype == np.float32
    np.testing.assert_allclose(features, alone, atol=1e-5)
    np.testing.assert_allclose(moved, alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)


def test_boxes_are_widened_to_the_input_aspect_ratio_about_their_centre() -> None:
    windows = crop_windows(np.array([[10.0, 20.0, 20.0, 84.0]]), (128, 64))
    np.testing.assert_allclose(windows, [[-1.0, 20.0, 31.0, 84.0]])


def test_crops_are_clipped_at_the_borders() -> None:
    frame = _noise_frame()
    crops = cut_crops(frame, np.array([[-20.0, -10.0, 12.0, 54.0], [500.0, 500.0, 532.0, 564.0]]), (32, 16))
    expected = cv2.resize(frame[0:54, 0:12], (16, 32), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(crops[0], expected)
    assert (crops[1] == 128).all()  # nothing inside the frame: a grey crop
    features = AppearanceEncoder(_net())(frame, np.array([[-20.0, -10.0, 12.0, 54.0], [150.0, 100.0, 400.0, 300.0]]))
    assert np.isfinite(features).all() and features.shape == (2, 16)


def test_encoder_handles_no_boxes_and_batches() -> None:
    encoder = AppearanceEncoder(_net(), batch_size=2)
    frame = _noise_frame()
    assert encoder(frame, np.zeros((0, 4))).shape == (0, 16)
    boxes = np.array([[10.0, 10.0, 30.0, 50.0], [40.0, 5.0, 60.0, 90.0], [0.0, 0.0, 50.0, 100.0]])
    batched = encoder(frame, boxes)
    one_by_one = np.concatenate([encoder(frame, box[None]) for box in boxes])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    with pytest.raises(ValueError, match="uint8"):
        encoder(frame.astype(np.float32), boxes)


# ---------------------------------------------------------------------------------------------------- loss
def test_cosine_softmax_logits_are_scaled_cosines() -> None:
    loss = CosineSoftmaxLoss(num_identities=3, embedding_dim=4, scale=10.0, learn_scale=False)
    assert loss.scale.item() == pytest.approx(10.0, rel=1e-5) and not loss.raw_scale.requires_grad
    with torch.no_grad():
        loss.weight.copy_(torch.tensor([[2.0, 0, 0, 0], [0, 3.0, 0, 0], [-1.0, 0, 0, 0]]))
    logits = loss.logits(torch.tensor([[1.0, 0, 0, 0]]))
    torch.testing.assert_close(logits, torch.tensor([[10.0, 0.0, -10.0]]))
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([1]))
    torch.testing.assert_close(loss(torch.tensor([[1.0, 0, 0, 0]]), torch.tensor([1])), expected)
    with pytest.raises(ValueError, match="at least 2"):
        CosineSoftmaxLoss(num_identities=1)


def test_cosine_softmax_separates_two_identities() -> None:
    torch.manual_seed(0)
    # width 8, not SMALL's 4: at width 4 oneDNN's convolution backward of torch 2.13 (CPU) corrupts the heap and aborts
    # the process when torch runs on one thread (as it does after a test module calls torch.set_num_threads(1))
    net = AppearanceNet(**{**SMALL, "width": 8, "dropout": 0.1})
    loss = CosineSoftmaxLoss(num_identities=2, embedding_dim=16, scale=8.0)
    generator = np.random.default_rng(0)
    colours = [(200, 40, 40), (40, 60, 200)]
    crops = np.stack([np.clip(generator.normal(colours[i % 2], 30, (32, 16, 3)), 0, 255) for i in range(16)])
    images, labels = crops_to_tensor(crops.astype(np.uint8)), torch.arange(16) % 2
    optimizer = torch.optim.Adam([*net.parameters(), *loss.parameters()], lr=1e-2)
    first = None
    for _ in range(30):
        value = loss(net(images), labels)
        first = value.item() if first is None else first
        optimizer.zero_grad()
        value.backward()
        assert loss.weight.grad is not None and loss.raw_scale.grad is not None
        optimizer.step()
    net.eval()
    with torch.no_grad():
        embeddings = net(images)
        accuracy = (loss.logits(embeddings).argmax(dim=1) == labels).float().mean().item()
    similarity = embeddings @ embeddings.t()
    same = labels[:, None] == labels[None, :]
    assert value.item() < 0.5 * first and accuracy == 1.0
    assert similarity[same].min() > similarity[~same].max()


# ---------------------------------------------------------------------------------------------------- metrics
def _brute_force(distances, query_ids, gallery_ids, ignore, k_values=(1, 5)):
    cmc = {k: [] for k in k_values}
    aps = []
    for q in range(len(query_ids)):
        ranking = [g for g in sorted(range(len(gallery_ids)), key=lambda g: (distances[q, g], g)) if not ignore[q, g]]
        relevant = [gallery_ids[g] == query_ids[q] for g in ranking]
        if not any(relevant):
            continue
        first = relevant.index(True)
        for k in k_values:
            cmc[k].append(first < k)
        hits, precisions = 0, []
        for position, is_match in enumerate(relevant):
            if is_match:
                hits += 1
                precisions.append(hits / (position + 1))
        aps.append(np.mean(precisions))
    return {**{f"rank{k}": float(np.mean(v)) for k, v in cmc.items()}, "mAP": float(np.mean(aps)), "n": len(aps)}


def test_retrieval_scores_match_a_brute_force_reference() -> None:
    generator = np.random.default_rng(3)
    for _ in range(5):
        query_ids = generator.integers(0, 6, 12)
        gallery_ids = generator.integers(0, 8, 40)
        distances = generator.random((12, 40))
        ignore = generator.random((12, 40)) < 0.2
        expected = _brute_force(distances, query_ids, gallery_ids, ignore)
        scores = retrieval_scores(
            torch.from_numpy(distances),
            torch.from_numpy(query_ids),
            torch.from_numpy(gallery_ids),
            torch.from_numpy(ignore),
            ranks=(1, 5),
        )
        assert scores["num_queries"] == expected["n"]
        for name in ("rank1", "rank5", "mAP"):
            assert scores[name] == pytest.approx(expected[name], abs=1e-12)


def test_retrieval_scores_by_hand() -> None:
    # query 0 (id 7) ranks the gallery as id 3, 7, 5, 7: first match at rank 2, AP = (1/2 + 2/4) / 2 = 0.5
    # query 1 (id 9) has no match in the gallery: left out
    distances = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]])
    gallery = torch.tensor([3, 7, 5, 7])
    scores = retrieval_scores(distances, torch.tensor([7, 9]), gallery, ranks=(1, 2))
    assert scores == {"rank1": 0.0, "rank2": 1.0, "mAP": 0.5, "num_queries": 1.0}
    # ignoring the id-3 entry: 7, 5, 7 -> rank-1 hit, AP = (1 + 2/3) / 2
    ignore = torch.tensor([[True, False, False, False], [False] * 4])
    scores = retrieval_scores(distances, torch.tensor([7, 9]), gallery, ignore, ranks=(1,))
    assert scores["rank1"] == 1.0 and scores["mAP"] == pytest.approx(5 / 6)
    nothing = retrieval_scores(distances[:, :0], torch.tensor([7, 9]), gallery[:0], ranks=(1,))
    assert np.isnan(nothing["mAP"]) and nothing["num_queries"] == 0


def test_reid_metrics_accumulate_queries_and_gallery() -> None:
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(30, 8, generator=generator)
    ids = torch.randint(0, 5, (30,), generator=generator)
    is_query = torch.arange(30) % 4 == 0
    metric = ReidMetrics(ranks=(1, 3))
    for chunk in range(0, 30, 7):
        metric.update(embeddings[chunk : chunk + 7], ids[chunk : chunk + 7], is_query[chunk : chunk + 7])
    distances = cosine_distance(embeddings[is_query], embeddings[~is_query])
    assert metric.compute() == retrieval_scores(distances, ids[is_query], ids[~is_query], ranks=(1, 3))


# ---------------------------------------------------------------------------------------------------- data
COLOURS = {1: (230, 30, 30), 2: (30, 200, 40), 3: (40, 50, 230), 4: (230, 220, 30)}


def _write_sequence(folder: Path, name: str, rows: list[tuple], num_frames: int) -> Path:
    """A MOT sequence of noise frames with each gt box filled with its id's colour; rows are
    (frame, id, left, top, width, height, flag, class, visibility)."""
    sequence = folder / name
    (sequence / "img1").mkdir(parents=True)
    (sequence / "gt").mkdir()
    write_seqinfo(sequence / "seqinfo.ini", SequenceInfo(name, "img1", 30, num_frames, 96, 64, ".png"))
    generator = np.random.default_rng(0)
    for frame in range(1, num_frames + 1):
        image = generator.integers(0, 60, (64, 96, 3), dtype=np.uint8)
        for f, track, left, top, width, height, *_ in rows:
            if f == frame:
                image[top : top + height, left : left + width] = COLOURS[(track - 1) % 4 + 1]
        cv2.imwrite(str(sequence / "img1" / f"{frame:06d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    lines = [",".join(str(v) for v in row) for row in rows]
    (sequence / "gt" / "gt.txt").write_text("\n".join(lines) + "\n")
    return sequence


def _track(track: int, frames, left: int, **fields) -> list[tuple]:
    flag, cls, vis = fields.get("flag", 1), fields.get("cls", 1), fields.get("vis", 1.0)
    return [(f, track, left, 10, 16, 32, flag, cls, vis) for f in frames]


@pytest.fixture
def mot_folder(tmp_path: Path) -> Path:
    rows_a = (
        _track(1, range(1, 7), 5)
        + _track(2, range(1, 7), 40)
        + [(3, 3, 70, 10, 16, 32, 1, 1, 0.1)]  # too occluded
        + [(4, 4, 70, 10, 16, 32, 0, 1, 1.0)]  # flag 0: ignored
        + [(5, 5, 70, 10, 16, 32, 1, 2, 1.0)]  # class 2: not a pedestrian
        + [(6, 6, 70, 40, 8, 10, 1, 1, 1.0)]  # too small
    )
    _write_sequence(tmp_path / "train", "seq-A", rows_a, 6)
    _write_sequence(tmp_path / "train", "seq-B", _track(1, range(1, 5), 20) + _track(7, [1], 60), 6)
    # evaluation: id 1 spans 12 frames (queries at 1 and 12), id 2 only 3 frames (distractor only)
    rows_c = _track(1, range(1, 13), 5) + _track(2, range(4, 7), 40) + _track(3, range(1, 13), 70)
    _write_sequence(tmp_path / "eval", "seq-C", rows_c, 12)
    return tmp_path


def test_crops_filter_the_ground_truth_and_key_identities_by_sequence(mot_folder: Path) -> None:
    sequences = [MotSequence(mot_folder / "train" / name) for name in ("seq-A", "seq-B")]
    index = ground_truth_crops(sequences, min_visibility=0.3, min_height=16)
    pairs = sorted({(index.sequence_names[s], int(t)) for s, t in zip(index.sequence, index.track_id, strict=True)})
    assert pairs == [("seq-A", 1), ("seq-A", 2), ("seq-B", 1), ("seq-B", 7)]
    assert index.num_identities == 4  # id 1 of seq-A and id 1 of seq-B are different people


def test_datamodule_relabels_training_identities_and_cuts_their_crops(mot_folder: Path) -> None:
    datamodule = ReidCropsDataModule(
        train=[mot_folder / "train" / "seq-A", mot_folder / "train" / "seq-B"],
        val=[mot_folder / "eval" / "seq-C"],
        input_size=(32, 16),
        min_visibility=0.3,
        min_height=16,
        min_crops_per_identity=2,  # drops seq-B id 7 (one crop)
        min_frame_gap=3,
        batch_size=4,
    )
    assert datamodule.num_identities == 3
    datamodule.setup("fit")
    train_set = datamodule.datasets["train"]
    assert len(train_set) == 6 + 6 + 4
    labels = train_set.index.label
    assert sorted(set(labels.tolist())) == [0, 1, 2]
    for label, (name, track) in enumerate([("seq-A", 1), ("seq-A", 2), ("seq-B", 1)]):
        rows = labels == label
        assert {train_set.index.sequence_names[s] for s in train_set.index.sequence[rows]} == {name}
        assert set(train_set.index.track_id[rows].tolist()) == {track}
        # a 16x32 box is already at the 1:2 aspect ratio: the crop is the box's colour
        crop = train_set.crops[np.flatnonzero(rows)[0]]
        np.testing.assert_array_equal(crop[4:-4, 4:-4].reshape(-1, 3).mean(axis=0), COLOURS[track])
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["image"].shape == (4, 3, 32, 16) and batch["label"].dtype == torch.int64
    with pytest.raises(ValueError, match="no test sequences"):
        datamodule.crop_index("test")


def test_query_gallery_protocol(mot_folder: Path) -> None:
    index = ground_truth_crops([MotSequence(mot_folder / "eval" / "seq-C")])
    split = query_gallery_split(index, queries_per_identity=2, min_frame_gap=3)
    by_identity = {}
    for track in (1, 2, 3):
        rows = split.track_id == track
        by_identity[track] = (split.frame[rows & split.is_query].tolist(), split.frame[rows & ~split.is_query].tolist())
    # queries: first and last crops; gallery: crops >= 3 frames from both; id 2 (3 frames) is a distractor only
    assert by_identity[1] == ([1, 12], [4, 5, 6, 7, 8, 9])
    assert by_identity[3] == ([1, 12], [4, 5, 6, 7, 8, 9])
    assert by_identity[2] == ([], [4, 5, 6])
    one = query_gallery_split(index, queries_per_identity=1, min_frame_gap=3)
    assert one.frame[(one.track_id == 1) & one.is_query].tolist() == [1]
    assert one.frame[(one.track_id == 1) & ~one.is_query].tolist() == list(range(4, 13))
    # too long a gap for two queries on id 1: falls back to one query, still with a gallery
    wide = query_gallery_split(index, queries_per_identity=2, min_frame_gap=8)
    assert wide.frame[(wide.track_id == 1) & wide.is_query].tolist() == [1]
    assert wide.frame[(wide.track_id == 1) & ~wide.is_query].tolist() == [9, 10, 11, 12]


def test_mot17_detector_copies_are_one_video() -> None:
    assert video_name("MOT17-02-FRCNN") == video_name("MOT17-02-SDP") == "MOT17-02"
    assert video_name("synth-train-01") == "synth-train-01"


def test_augmentation_keeps_size_and_is_reproducible() -> None:
    crop = _noise_frame(32, 16)
    first = [CropAugmentation(seed=5)(crop) for _ in range(2)]
    again = CropAugmentation(seed=5)(crop)
    assert first[0].shape == crop.shape and first[0].dtype == np.uint8
    np.testing.assert_array_equal(first[0], again)


# ---------------------------------------------------------------------------------------------------- pipeline
def test_reid_configs_compose(tmp_path: Path) -> None:
    cfg = compose_config("train", ["task=reid", "data=tracking/reid_mot17", "model_size=small"], tmp_path / "run")
    assert cfg.model.width == 16 and list(cfg.data.input_size) == [64, 32] == list(cfg.model.input_size)
    assert cfg.loss.embedding_dim == cfg.model.embedding_dim and cfg.optimized_metric == "val/mAP"
    datamodule = instantiate(cfg.data)  # nothing is read before num_identities / setup
    assert datamodule.sources["val"].sequence_names == ["MOT17-09-FRCNN"]
    default = compose_config("train", ["task=reid"], tmp_path / "run2")
    assert list(default.model.input_size) == [128, 64] and default.model.width == 32
    assert default.data.train.split == "train" and default.data.test.split == "test"


def _tiny_reid_overrides(root: Path) -> list[str]:
    overrides = ["task=reid", "model.width=4", "model.input_size=[32,16]", "model.embedding_dim=16"]
    for split in ("train", "val", "test"):
        overrides += [
            f"data.{split}.root={root}",
            f"+data.{split}.num_sequences=1",
            f"+data.{split}.num_frames=40",
        ]
    overrides += ["data.batch_size=16", "data.eval_frame_stride=4", "data.min_frame_gap=10"]
    overrides += ["trainer.max_epochs=1", "trainer.limit_train_batches=3"]
    return overrides


def test_train_reid_end_to_end_then_encode_with_the_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    cfg = compose_config("train", _tiny_reid_overrides(tmp_path / "synthetic"), run)
    assert cfg.callbacks.model_checkpoint.monitor == "val/mAP" and cfg.callbacks.model_checkpoint.mode == "max"
    score = train(cfg)
    metrics = json.loads((run / "metrics.json").read_text())
    assert score == metrics["val/mAP"]
    for stage in ("val", "test"):
        assert 0.0 <= metrics[f"{stage}/rank1"] <= metrics[f"{stage}/rank5"] <= 1.0
        assert 0.0 < metrics[f"{stage}/mAP"] <= 1.0 and metrics[f"{stage}/num_queries"] > 0
    best = run / json.loads((run / "run.json").read_text())["best_checkpoint"]

    encoder = AppearanceEncoder.from_checkpoint(best)
    assert encoder.input_size == (32, 16) and encoder.embedding_dim == 16
    state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    torch.testing.assert_close(encoder.network.stem[0][0].weight, state["model.stem.0.0.weight"])
    frame = _noise_frame()
    features = encoder(frame, np.array([[10.0, 10.0, 30.0, 50.0], [50.0, 20.0, 70.0, 60.0]]))
    assert features.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)

    from_run = AppearanceEncoder.from_checkpoint(run)  # a run directory: its best checkpoint
    np.testing.assert_allclose(from_run(frame, np.array([[10.0, 10.0, 30.0, 50.0]])), features[:1], atol=1e-5)

    out = tmp_path / "eval"
    out.mkdir()
    evaluate(compose_config("evaluate", [f"run_dir={run}"], out))
    assert json.loads((out / "metrics.json").read_text())["val/mAP"] == pytest.approx(metrics["val/mAP"], abs=1e-6)

    # other data, with another number of training identities: the identity classifier is not needed to retrieve
    other = tmp_path / "eval_other"
    other.mkdir()
    root = tmp_path / "other"
    data = [f"+data_overrides.{split}.root={root}" for split in ("train", "val", "test")]
    data += ["+data_overrides.train.num_sequences=2", "+data_overrides.train.seed=5"]
    evaluate(compose_config("evaluate", [f"run_dir={run}", *data], other))
    assert 0.0 < json.loads((other / "metrics.json").read_text())["val/mAP"] <= 1.0
