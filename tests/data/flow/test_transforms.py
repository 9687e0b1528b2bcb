"""Flow-aware augmentation: after every geometric transform the flow still maps frame 2 onto frame 1.

The warp checks use synthetic samples (exact flow, known occlusion) whose frames carry a 4th channel coding
the layer seen at each pixel (``4**layer``, 0 outside the frame): after resampling, a pixel whose code is not
one pure value mixed layers or the border, and a target whose warped code differs from the source's landed on
another layer. The remaining pixels must match to interpolation accuracy.
"""

import math

import numpy as np
import pytest

from tests.helpers import FIXTURES
from visionbench.data.flow.synthetic_flow import SyntheticFlowDataset
from visionbench.data.flow.transforms import (
    FlowAugmentation,
    FlowEraser,
    FlowPhotometricJitter,
    RandomFlowCrop,
    RandomFlowFlip,
    RandomFlowRotation,
    RandomFlowScale,
    crop_flow_sample,
    flow_sample_to_tensors,
    hflip_flow_sample,
    pad_flow_sample,
    resize_flow_sample,
    resize_sparse_flow,
    rotate_flow_sample,
    vflip_flow_sample,
)

DATASET = SyntheticFlowDataset("val", size=16, image_size=80, seed=3)


def coded_sample(index: int, sparse_fraction: float | None = None) -> dict[str, np.ndarray]:
    sample = DATASET.generate(index, return_layers=True)
    out = {}
    for key, layers in (("image1", "layers1"), ("image2", "layers2")):
        code = (4.0 ** sample[layers].astype(np.float32))[..., None]
        out[key] = np.concatenate([sample[key].astype(np.float32) / 255.0, code], -1)
    out["flow"] = sample["flow"]
    out["occlusion"] = sample["occlusion"]
    out["valid"] = sample["valid"].copy()
    if sparse_fraction is not None:
        keep = np.random.default_rng(index).random(out["valid"].shape) < sparse_fraction
        out["valid"] &= keep
        out["flow"] = np.where(out["valid"][..., None], out["flow"], 0).astype(np.float32)
    return out


def bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample ``image`` (H,W,C) at float positions (clamped to the frame), in float64."""
    h, w = image.shape[:2]
    x = np.clip(x, 0, w - 1)
    y = np.clip(y, 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(int), w - 2)
    y0 = np.minimum(np.floor(y).astype(int), h - 2)
    ax, ay = (x - x0)[..., None], (y - y0)[..., None]
    img = image.astype(np.float64)
    top = img[y0, x0] * (1 - ax) + img[y0, x0 + 1] * ax
    bottom = img[y0 + 1, x0] * (1 - ax) + img[y0 + 1, x0 + 1] * ax
    return top * (1 - ay) + bottom * ay


def warp_errors(sample: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel max RGB error between frame 1 and frame 2 warped back by the flow, on the checked pixels
    (valid, not occluded, target inside the frame, one layer in both frames), and the checked mask."""
    h, w = sample["flow"].shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    tx, ty = xx + sample["flow"][..., 0], yy + sample["flow"][..., 1]
    warped = bilinear(sample["image2"], tx, ty)
    code1 = sample["image1"][..., 3].astype(np.float64)
    pure = np.abs(
        np.log(np.maximum(code1, 1e-9)) / math.log(4) - np.rint(np.log(np.maximum(code1, 1e-9)) / math.log(4))
    )
    checked = sample["valid"] & (code1 >= 1 - 1e-4) & (pure < 1e-4)
    checked &= np.abs(warped[..., 3] - code1) < 1e-3 * code1
    checked &= (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    if "occlusion" in sample:
        checked &= ~sample["occlusion"]
    errors = np.abs(warped[..., :3] - sample["image1"][..., :3]).max(-1)
    return errors[checked], checked


def assert_flow_maps_frames(sample: dict[str, np.ndarray], max_error: float = 0.03, min_checked: float = 0.3) -> None:
    errors, checked = warp_errors(sample)
    assert checked.mean() >= min_checked, f"only {checked.mean():.2f} of the pixels could be checked"
    assert errors.mean() < 0.005, errors.mean()
    assert errors.max() < max_error, errors.max()


# ---- the check itself ------------------------------------------------------------------------------
def test_check_passes_on_the_original_and_catches_wrong_flow() -> None:
    sample = coded_sample(0)
    assert_flow_maps_frames(sample, max_error=0.03)
    wrong_flow = sample["flow"].copy()
    wrong_flow[..., 0] *= -1  # a flip that forgot to negate u, in effect
    errors, _ = warp_errors(dict(sample, flow=wrong_flow))
    assert errors.mean() > 0.03


@pytest.mark.parametrize("case", ["scale without scaling the vectors", "rotation without rotating the vectors"])
def test_check_catches_geometry_that_forgets_the_vectors(case: str) -> None:
    sample = coded_sample(1)
    if case.startswith("scale"):
        out = resize_flow_sample(sample, 1.5, 1.5)
        out["flow"] /= 1.5
    else:
        out = rotate_flow_sample(sample, 25.0)
        c, s = math.cos(math.radians(25.0)), math.sin(math.radians(25.0))
        u, v = out["flow"][..., 0].copy(), out["flow"][..., 1].copy()
        out["flow"][..., 0], out["flow"][..., 1] = c * u - s * v, s * u + c * v  # the vectors rotated back
    errors, _ = warp_errors(out)
    assert errors.mean() > 0.02


# ---- deterministic geometric operations: analytic expectations -------------------------------------
def linear_flow_sample(h: int = 24, w: int = 32) -> dict[str, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    flow = np.stack([0.1 * xx - 0.2 * yy + 1.5, 0.05 * xx + 0.3 * yy - 2.0], -1).astype(np.float32)
    rng = np.random.default_rng(0)
    image1 = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    image2 = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return {"image1": image1, "image2": image2, "flow": flow, "valid": np.ones((h, w), bool),
            "occlusion": rng.random((h, w)) > 0.7}  # fmt: skip


def test_hflip_vflip_exact() -> None:
    s = linear_flow_sample()
    h = hflip_flow_sample(s)
    np.testing.assert_array_equal(h["image1"], s["image1"][:, ::-1])
    np.testing.assert_array_equal(h["image2"], s["image2"][:, ::-1])
    np.testing.assert_array_equal(h["flow"][..., 0], -s["flow"][:, ::-1, 0])
    np.testing.assert_array_equal(h["flow"][..., 1], s["flow"][:, ::-1, 1])
    np.testing.assert_array_equal(h["occlusion"], s["occlusion"][:, ::-1])
    v = vflip_flow_sample(s)
    np.testing.assert_array_equal(v["image2"], s["image2"][::-1])
    np.testing.assert_array_equal(v["flow"][..., 0], s["flow"][::-1, :, 0])
    np.testing.assert_array_equal(v["flow"][..., 1], -s["flow"][::-1, :, 1])
    np.testing.assert_array_equal(v["valid"], s["valid"][::-1])
    # the input is untouched
    np.testing.assert_array_equal(s["flow"], linear_flow_sample()["flow"])


def test_crop_and_pad_exact() -> None:
    s = linear_flow_sample()
    c = crop_flow_sample(s, 3, 5, 10, 12)
    np.testing.assert_array_equal(c["flow"], s["flow"][3:13, 5:17])
    np.testing.assert_array_equal(c["image2"], s["image2"][3:13, 5:17])
    with pytest.raises(ValueError, match="not inside"):
        crop_flow_sample(s, 20, 0, 10, 10)
    p = pad_flow_sample(s, 30, 33)
    assert p["flow"].shape == (30, 33, 2)
    assert not p["valid"][24:].any() and not p["valid"][:, 32:].any() and p["valid"][:24, :32].all()
    assert (p["image1"][24:] == 0).all()


@pytest.mark.parametrize(("sx", "sy"), [(1.5, 1.5), (0.7, 0.7), (1.3, 0.8), (2.0, 0.5)])
def test_dense_resize_scales_flow_vectors(sx: float, sy: float) -> None:
    s = linear_flow_sample()
    h, w = s["flow"].shape[:2]
    r = resize_flow_sample(s, sx, sy)
    oh, ow = r["flow"].shape[:2]
    assert (oh, ow) == (round(h * sy), round(w * sx)) == r["image1"].shape[:2]
    qy, qx = np.mgrid[0:oh, 0:ow].astype(np.float64)
    px, py = (qx + 0.5) / sx - 0.5, (qy + 0.5) / sy - 0.5  # OpenCV's pixel-centre convention
    inside = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
    expected_u = sx * (0.1 * px - 0.2 * py + 1.5)
    expected_v = sy * (0.05 * px + 0.3 * py - 2.0)
    np.testing.assert_allclose(r["flow"][..., 0][inside], expected_u[inside], atol=2e-3)
    np.testing.assert_allclose(r["flow"][..., 1][inside], expected_v[inside], atol=2e-3)
    assert r["valid"].all()  # every pixel valid: nothing invalid to blend


def test_dense_resize_never_blends_invalid_flow() -> None:
    s = linear_flow_sample()
    rng = np.random.default_rng(5)
    s["valid"] = rng.random(s["valid"].shape) > 0.3
    s["flow"][~s["valid"]] = 1e9  # unknown flow as stored in .flo
    for sx, sy in ((1.7, 1.7), (0.6, 0.8)):
        r = resize_flow_sample(s, sx, sy)
        assert np.abs(r["flow"]).max() < 100  # no unknown value leaked
        assert (r["flow"][~r["valid"]] == 0).all()
        # a valid output pixel only interpolates valid inputs
        oh, ow = r["valid"].shape
        qy, qx = np.nonzero(r["valid"])
        px = np.clip((qx + 0.5) / sx - 0.5, 0, s["valid"].shape[1] - 1)
        py = np.clip((qy + 0.5) / sy - 0.5, 0, s["valid"].shape[0] - 1)
        for dx in (0, 1):
            for dy in (0, 1):
                x = np.minimum(np.floor(px).astype(int) + dx, s["valid"].shape[1] - 1)
                y = np.minimum(np.floor(py).astype(int) + dy, s["valid"].shape[0] - 1)
                weight = (1 - abs(px - np.floor(px) - dx)) * (1 - abs(py - np.floor(py) - dy))
                assert s["valid"][y, x][weight > 1e-3].all()


def test_rotation_rotates_flow_vectors() -> None:
    h, w = 40, 50
    flow = np.broadcast_to(np.float32([3.0, -1.0]), (h, w, 2)).copy()
    black = np.zeros((h, w, 3), np.uint8)
    s = {"image1": black, "image2": black, "flow": flow, "valid": np.ones((h, w), bool)}
    r = rotate_flow_sample(s, 90.0)
    # 90 degrees counter-clockwise as displayed (y down): (u, v) -> (v, -u)
    centre = r["valid"][5:-5, 10:-10]
    assert centre.all()
    np.testing.assert_allclose(r["flow"][5:-5, 10:-10], np.broadcast_to([-1.0, -3.0], (h - 10, w - 20, 2)), atol=1e-4)
    assert not r["valid"][0, 0]  # a corner from outside the frame


# ---- warp checks after each geometric augmentation -------------------------------------------------
@pytest.mark.parametrize("index", range(4))
def test_warp_after_flips(index: int) -> None:
    s = coded_sample(index)
    assert_flow_maps_frames(hflip_flow_sample(s))
    assert_flow_maps_frames(vflip_flow_sample(s))
    assert_flow_maps_frames(vflip_flow_sample(hflip_flow_sample(s)))


@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize(("sx", "sy"), [(1.4, 1.4), (0.8, 0.8), (1.3, 0.9), (0.85, 1.25)])
def test_warp_after_dense_scale(index: int, sx: float, sy: float) -> None:
    assert_flow_maps_frames(resize_flow_sample(coded_sample(index), sx, sy))


@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize("degrees", [-12.0, 7.0, 30.0])
def test_warp_after_rotation(index: int, degrees: float) -> None:
    assert_flow_maps_frames(rotate_flow_sample(coded_sample(index), degrees), min_checked=0.25)


@pytest.mark.parametrize("index", range(3))
def test_warp_after_random_crop(index: int) -> None:
    crop = RandomFlowCrop((48, 56), seed=index)
    assert_flow_maps_frames(crop(coded_sample(index)))


@pytest.mark.parametrize("index", range(3))
@pytest.mark.parametrize(("sx", "sy", "degrees"), [(1.5, 1.5, 0.0), (0.7, 0.7, 0.0), (1.2, 0.9, 0.0), (1.0, 1.0, 9.0)])
def test_warp_after_sparse_geometry(index: int, sx: float, sy: float, degrees: float) -> None:
    s = coded_sample(index, sparse_fraction=0.3)
    if degrees:
        out = rotate_flow_sample(s, degrees, sparse=True)
    else:
        flow, valid, occ = resize_sparse_flow(s["flow"], s["valid"], sx, sy, s["occlusion"])
        out = resize_flow_sample(s, sx, sy)  # frames as the dense path resamples them
        out.update(flow=flow, valid=valid, occlusion=occ)
    # sparse flow is moved to the nearest pixel (<= 0.5 px from its exact position): a looser tolerance
    assert_flow_maps_frames(out, max_error=0.05, min_checked=0.1 if sx < 1 else 0.05)


@pytest.mark.parametrize("index", range(6))
def test_warp_after_full_augmentation(index: int) -> None:
    aug = FlowAugmentation(
        crop_size=(56, 64), log2_scale_range=(-0.2, 0.5), rotation_prob=0.7, max_rotation=10.0, hflip_prob=0.5,
        vflip_prob=0.5, photometric=False, eraser_prob=0.0, seed=index,
    )  # fmt: skip
    for _ in range(3):
        out = aug(coded_sample(index))
        assert out["flow"].shape == (56, 64, 2) and out["image1"].shape == (56, 64, 4)
        assert_flow_maps_frames(out, min_checked=0.2)


@pytest.mark.parametrize("index", range(3))
def test_warp_after_full_sparse_augmentation(index: int) -> None:
    aug = FlowAugmentation(
        crop_size=(56, 64), log2_scale_range=(-0.2, 0.4), rotation_prob=0.5, max_rotation=8.0, vflip_prob=0.0,
        photometric=False, eraser_prob=0.0, sparse=True, seed=index,
    )  # fmt: skip
    for _ in range(3):
        out = aug(coded_sample(index, sparse_fraction=0.3))
        assert out["flow"].shape == (56, 64, 2)
        assert_flow_maps_frames(out, max_error=0.05, min_checked=0.03)


# ---- sparse resize: never a blend ------------------------------------------------------------------
@pytest.mark.parametrize(("sx", "sy"), [(0.5, 0.5), (0.73, 0.61), (1.6, 1.6), (1.37, 2.1)])
def test_sparse_resize_moves_valid_pixels_without_blending(sx: float, sy: float) -> None:
    h, w = 37, 53
    rng = np.random.default_rng(7)
    valid = rng.random((h, w)) < 0.3
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    flow = np.stack([xx + 0.25, yy - 0.5], -1)  # each pixel's flow names the pixel
    flow[~valid] = 5e3  # garbage at invalid pixels: must never appear
    out_flow, out_valid, _ = resize_sparse_flow(flow, valid, sx, sy)
    assert out_flow.shape[:2] == (round(h * sy), round(w * sx))
    assert (out_flow[~out_valid] == 0).all()
    qy, qx = np.nonzero(out_valid)
    src_x = out_flow[qy, qx, 0] / sx - 0.25
    src_y = out_flow[qy, qx, 1] / sy + 0.5
    ix, iy = np.rint(src_x).astype(int), np.rint(src_y).astype(int)
    np.testing.assert_allclose(src_x, ix, atol=1e-3)  # exactly one input pixel's flow, scaled
    np.testing.assert_allclose(src_y, iy, atol=1e-3)
    assert valid[iy, ix].all()  # ... and that pixel was valid
    np.testing.assert_array_equal(np.rint((ix + 0.5) * sx - 0.5), qx)  # ... and lands where it should
    np.testing.assert_array_equal(np.rint((iy + 0.5) * sy - 0.5), qy)
    if sx >= 1 and sy >= 1:
        assert out_valid.sum() == valid.sum()  # upscaling keeps every valid pixel
    else:
        assert 0 < out_valid.sum() <= valid.sum()


def test_sparse_resize_of_the_kitti_fixture() -> None:
    KITTI_FLOW = FIXTURES / "kitti/KITTI2015/training/flow_occ/000000_10.png"
    from visionbench.data.flow.io import read_kitti_flow

    flow, valid = read_kitti_flow(KITTI_FLOW)
    out_flow, out_valid, _ = resize_sparse_flow(flow, valid, 0.5, 0.5)
    assert out_flow.shape[:2] == (188, 621)
    # every valid output equals half of some valid input flow: compare value sets
    scaled = {tuple(v) for v in np.rint(flow[valid] * 0.5 * 128).astype(np.int64)}
    produced = {tuple(v) for v in np.rint(out_flow[out_valid] * 128).astype(np.int64)}
    assert produced <= scaled
    assert valid.mean() < out_valid.mean() and out_valid.sum() < valid.sum()  # denser, but fewer points


# ---- random transforms ----------------------------------------------------------------------------
def test_random_scale_draws_and_min_size() -> None:
    scale = RandomFlowScale((-0.2, 0.5), stretch_prob=1.0, max_log2_stretch=0.2, p=1.0, min_size=(60, 70), seed=0)
    s = coded_sample(0)
    for _ in range(20):
        out = scale(s)
        assert out["flow"].shape[0] >= 60 and out["flow"].shape[1] >= 70
    sx, sy = RandomFlowScale((0.0, 0.0), stretch_prob=1.0, max_log2_stretch=0.2, p=1.0).draw(
        np.random.default_rng(1), 10, 10
    )
    assert sx != sy and 2**-0.2 <= sx <= 2**0.2 and 2**-0.2 <= sy <= 2**0.2
    assert RandomFlowScale(p=0.0).draw(np.random.default_rng(0), 100, 100) == (1.0, 1.0)


def test_random_flip_probabilities() -> None:
    flip = RandomFlowFlip(hflip_prob=1.0, vflip_prob=0.0)
    s = linear_flow_sample()
    np.testing.assert_array_equal(flip(s)["flow"], hflip_flow_sample(s)["flow"])
    assert RandomFlowFlip(0.0, 0.0)(s) is s
    assert RandomFlowRotation(10.0, p=0.0)(s) is s


def test_augmentation_is_deterministic_per_seed() -> None:
    def run(seed: int) -> dict[str, np.ndarray]:
        aug = FlowAugmentation(crop_size=(48, 48), rotation_prob=0.5, max_rotation=5, eraser_prob=0.5,
                               eraser_size=(5, 15), seed=seed)  # fmt: skip
        sample = DATASET.generate(1)
        return [aug(sample) for _ in range(3)][-1]

    a, b, c = run(0), run(0), run(1)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert any(not np.array_equal(a[k], c[k]) for k in ("image1", "flow"))
    aug = FlowAugmentation(crop_size=(48, 48), seed=0)
    first = aug(DATASET.generate(1))
    aug.reseed(0)
    np.testing.assert_array_equal(aug(DATASET.generate(1))["image1"], first["image1"])


def test_augmentation_keeps_dtypes_and_keys() -> None:
    out = FlowAugmentation(crop_size=(40, 48), eraser_size=(5, 10), seed=0)(DATASET.generate(2))
    assert out["image1"].dtype == np.uint8 and out["image1"].shape == (40, 48, 3)
    assert out["flow"].dtype == np.float32 and out["valid"].dtype == bool and out["occlusion"].dtype == bool
    tensors = flow_sample_to_tensors(out)
    assert tensors["image1"].shape == (3, 40, 48) and tensors["flow"].shape == (2, 40, 48)
    assert 0.0 <= float(tensors["image2"].min()) and float(tensors["image2"].max()) <= 1.0


def test_crop_pads_small_samples() -> None:
    s = linear_flow_sample(10, 12)
    out = RandomFlowCrop((16, 20), seed=0)(s)
    assert out["flow"].shape == (16, 20, 2)
    assert out["valid"].sum() == 10 * 12


# ---- photometric ----------------------------------------------------------------------------------
def test_photometric_symmetric_and_asymmetric() -> None:
    s = DATASET.generate(3)
    s = dict(s, image2=s["image1"].copy())
    same = FlowPhotometricJitter(asymmetric_prob=0.0, seed=0)
    differ = FlowPhotometricJitter(asymmetric_prob=1.0, seed=0)
    for _ in range(5):
        out = same(s)
        np.testing.assert_array_equal(out["image1"], out["image2"])
        assert out["image1"].dtype == np.uint8
        assert out["flow"] is s["flow"]  # geometry untouched
    changed = [not np.array_equal(o["image1"], o["image2"]) for o in (differ(s) for _ in range(5))]
    assert all(changed)
    assert not np.array_equal(same(s)["image1"], s["image1"])


def test_photometric_identity_when_disabled() -> None:
    s = DATASET.generate(4)
    out = FlowPhotometricJitter(brightness=0, contrast=0, saturation=0, hue=0, seed=0)(s)
    np.testing.assert_array_equal(out["image1"], s["image1"])


def test_photometric_hue_keeps_grey() -> None:
    grey = np.full((8, 8, 3), 0.4, np.float32)
    s = {"image1": grey, "image2": grey.copy(), "flow": np.zeros((8, 8, 2), np.float32), "valid": np.ones((8, 8), bool)}
    out = FlowPhotometricJitter(brightness=0, contrast=0, saturation=0, hue=0.5, seed=0)(s)
    np.testing.assert_allclose(out["image1"], grey, atol=1e-5)


def test_eraser_paints_frame2_only() -> None:
    s = DATASET.generate(5)
    out = FlowEraser(p=1.0, size_range=(10, 20), max_boxes=2, seed=0)(s)
    np.testing.assert_array_equal(out["image1"], s["image1"])
    changed = (out["image2"] != s["image2"]).any(-1)
    assert changed.any()
    mean = s["image2"].reshape(-1, 3).mean(0).astype(np.uint8)
    assert (out["image2"][changed] == mean).all()
