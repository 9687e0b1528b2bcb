"""Batched Kalman filters of SORT and DeepSORT: the states of all tracks in one array, one numpy call per step.

Both filters use a constant-velocity model whose transition matrix ``F`` adds each velocity to its position
component and whose measurement matrix ``H`` selects the position components. Products with these 0/1 matrices
are written as additions and slices; they give bit for bit what the dense products give (every dot product has
at most two non-zero terms), so results match a per-track ``filterpy`` / deep_sort filter up to the rounding of
the remaining dense products (about 1e-12 relative).

- :class:`SortKalmanFilter`: SORT (Bewley et al. 2016), state ``[u, v, s, r, u', v', s']`` (centre, area, aspect
  ratio w/h, velocities), fixed noise, ``filterpy.kalman.KalmanFilter``'s update with the Joseph-form covariance.
- :class:`DeepSortKalmanFilter`: DeepSORT (Wojke et al. 2017), state ``[x, y, a, h, vx, vy, va, vh]`` (centre,
  aspect ratio w/h, height, velocities), noise proportional to the box height, Mahalanobis gating distances.
"""

from __future__ import annotations

import numpy as np

CHI2_95_4DOF = 9.4877
"""0.95 quantile of the chi-square distribution with 4 degrees of freedom: DeepSORT's gating threshold."""


class SortKalmanFilter:
    """SORT's constant-velocity box filter (Bewley et al. 2016, "Simple Online and Realtime Tracking"), batched.

    State ``x`` (T, 7) = ``[u, v, s, r, u', v', s']`` with box centre ``(u, v)``, area ``s`` and aspect ratio
    ``r = w / h`` (constant: no velocity); covariance ``P`` (T, 7, 7); measurement ``z`` (N, 4) = ``[u, v, s, r]``.
    Noise as the reference: ``R = diag(1, 1, 10, 10)``, ``P0 = 10 * diag(1, 1, 1, 1, 1000, 1000, 1000)``,
    ``Q = diag(1, 1, 1, 1, 0.01, 0.01, 0.0001)``. Predict is ``x = Fx``, ``P = FPF' + Q``; update is filterpy's:
    ``S = HPH' + R``, ``K = PH' inv(S)``, ``x = x + K(z - Hx)``, ``P = (I - KH) P (I - KH)' + KRK'``.

    :meth:`predict` and :meth:`update` take any covariances; :meth:`block_predict` and :meth:`block_update` (used
    by :class:`~visionbench.models.tracking.sort.SORT`) the same steps on SORT's block-diagonal covariances, stored
    as their non-zero entries, one track per column (see the comment before them).
    """

    dim_x = 7
    dim_z = 4

    def __init__(self) -> None:
        self.F = np.eye(7)
        self.F[[0, 1, 2], [4, 5, 6]] = 1.0
        self.H = np.eye(4, 7)
        self.R = np.eye(4)
        self.R[2:, 2:] *= 10.0
        self.P0 = np.eye(7)
        self.P0[4:, 4:] *= 1000.0  # the velocities are not observed: large initial uncertainty
        self.P0 *= 10.0
        self.Q = np.eye(7)
        self.Q[-1, -1] *= 0.01
        self.Q[4:, 4:] *= 0.01
        self._r_diagonal = np.diag(self.R).copy()
        q, p0 = np.diag(self.Q), np.diag(self.P0)
        self.block_initial = np.concatenate(
            [np.zeros(4), p0[:4], np.zeros(4), p0[4:], [0.0], q[:4], np.zeros(4), q[4:], [0.0], self._r_diagonal]
        )[:, None]
        """Rows 4-35 of a new track's column in block form (zero velocity, covariance ``P0``, noise), (32, 1)."""

    def initiate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New tracks from measurements (N, 4): states (N, 7) with zero velocity and covariances ``P0``."""
        x = np.zeros((len(z), 7))
        x[:, :4] = z
        return x, np.broadcast_to(self.P0, (len(z), 7, 7)).copy()

    def predict(self, x: np.ndarray, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One step ahead: ``(F x, F P F' + Q)`` for states (T, 7) and covariances (T, 7, 7); inputs unchanged."""
        x = x.copy()
        x[:, :3] += x[:, 4:]
        P = P.copy()
        P[:, :3, :] += P[:, 4:, :]  # F P
        P[:, :, :3] += P[:, :, 4:]  # (F P) F'
        P += self.Q
        return x, P

    def update(self, x: np.ndarray, P: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Measurement update of states (T, 7), covariances (T, 7, 7) with measurements (T, 4); inputs unchanged."""
        innovation = z - x[:, :4]
        PHt = P[:, :, :4]
        S = P[:, :4, :4] + self.R
        K = PHt @ np.linalg.inv(S)  # (T, 7, 4)
        x = x + (K @ innovation[:, :, None])[:, :, 0]
        I_KH = np.broadcast_to(np.eye(7), P.shape).copy()
        I_KH[:, :, :4] -= K
        P = I_KH @ P @ I_KH.transpose(0, 2, 1) + (K * self._r_diagonal) @ K.transpose(0, 2, 1)
        return x, P

    # ---- block form ------------------------------------------------------------------------------------------
    #
    # SORT's covariances stay block diagonal: P0, Q and R are diagonal and F, H only couple a position component
    # with its own velocity, so P has non-zero entries only at (i, i), (i, i + 4), (i + 4, i), (i + 4, i + 4) for
    # i = 0, 1, 2 and at (3, 3). The block form keeps just those, one track per column of a float64 table:
    #
    #   rows 0-3: u, v, s, r              rows 4-7: u', v', s', 0            rows 8-11: P[i, i]
    #   rows 12-15: P[i, i + 4]           rows 16-19: P[i + 4, i + 4]        (i = 0..3)
    #   rows 20-31: Q at the entries of rows 8-19                            rows 32-35: R[i, i]
    #
    # The aspect ratio r gets a placeholder velocity that stays exactly 0 with zero variance, so all four
    # components follow the same formulas. The noise is stored in every column (block_initial) so that every
    # operation combines equal-shape contiguous blocks: with a few tracks, numpy's per-call cost dominates and it
    # is about three times higher for broadcast or strided operands. Each entry is computed with the operations
    # of filterpy's dense products that have non-zero terms, in the same order: results are filterpy's up to the
    # fused multiply-adds of its BLAS, far below 1e-9 relative. S is diagonal, and inv(S) is the reciprocal of
    # its diagonal, as LAPACK returns it.

    def block_predict(self, table: np.ndarray) -> None:
        """``x = F x``, ``P = F P F' + Q`` in place on a block-form table (36+, T), C-contiguous rows."""
        table[0:4] += table[4:8]
        table[8:16] += table[12:20]  # P[i, i] + P[i, i+4] and P[i, i+4] + P[i+4, i+4] (ufuncs buffer the overlap)
        table[8:12] += table[12:16]  # (P[i, i] + P[i, i+4]) + (P[i, i+4] + P[i+4, i+4])
        table[8:20] += table[20:32]

    def block_update(self, table: np.ndarray, z: np.ndarray) -> None:
        """filterpy's update (Joseph form) in place on a block-form table (36+, M), C-contiguous rows, with
        measurements ``z`` (4, M), one column per track."""
        p_pp, p_pv, p_vv, r = table[8:12], table[12:16], table[16:20], table[32:36]
        inverse = np.add(p_pp, r)
        np.reciprocal(inverse, out=inverse)  # inv(S), S = H P H' + R
        k_p = p_pp * inverse  # K = P H' inv(S): K[i, i] and K[i+4, i]
        k_v = p_pv * inverse
        innovation = z - table[0:4]
        table[0:4] += k_p * innovation
        table[4:8] += k_v * innovation
        # P = A P A' + K R K' with A = I - K H: A[i, i] = 1 - K[i, i], A[i+4, i] = -K[i+4, i], A[i+4, i+4] = 1
        a_ii = np.subtract(1.0, k_p)
        ap_ii = a_ii * p_pp  # (A P)[i, i]
        ap_vi = k_v * p_pp
        np.subtract(p_pv, ap_vi, out=ap_vi)  # (A P)[i+4, i]
        kr_p, kr_v = k_p * r, k_v * r  # K R
        ap_vv = k_v * p_pv
        np.subtract(p_vv, ap_vv, out=ap_vv)  # (A P)[i+4, i+4]
        np.multiply(ap_vi, k_v, out=p_vv)
        np.subtract(ap_vv, p_vv, out=p_vv)  # (A P A')[i+4, i+4]
        ap_vv = np.multiply(kr_v, k_v, out=ap_vv)
        p_vv += ap_vv  # + (K R K')[i+4, i+4]
        np.multiply(a_ii, p_pv, out=p_pv)  # (A P)[i, i+4]
        p_pv -= np.multiply(ap_ii, k_v, out=ap_vi)  # (A P A')[i, i+4]
        p_pv += np.multiply(kr_p, k_v, out=ap_vi)  # + (K R K')[i, i+4]
        np.multiply(ap_ii, a_ii, out=p_pp)  # (A P A')[i, i]
        p_pp += np.multiply(kr_p, k_p, out=ap_vi)  # + (K R K')[i, i]

    def block_covariances(self, table: np.ndarray) -> np.ndarray:
        """Dense covariances (T, 7, 7) from rows 8-19 of a block-form table (20+, T)."""
        P = np.zeros((table.shape[1], 7, 7))
        diagonal = np.arange(4)
        P[:, diagonal, diagonal] = table[8:12].T
        velocity = np.arange(3)
        P[:, velocity, velocity + 4] = P[:, velocity + 4, velocity] = table[12:15].T
        P[:, velocity + 4, velocity + 4] = table[16:19].T
        return P


class DeepSortKalmanFilter:
    """DeepSORT's constant-velocity box filter (Wojke, Bewley and Paulus 2017), batched.

    State mean (T, 8) = ``[x, y, a, h, vx, vy, va, vh]`` with box centre ``(x, y)``, aspect ratio ``a = w / h`` and
    height ``h``; covariance (T, 8, 8); measurement (N, 4) = ``[x, y, a, h]``. Noise standard deviations are
    proportional to the height: ``std_weight_position * h`` for x, y, h and ``std_weight_velocity * h`` for
    their velocities (0.01 / 1e-5 for a and va; 0.1 for a's measurement noise), as in deep_sort.

    Args:
        std_weight_position: position noise per pixel of height (deep_sort: 1/20).
        std_weight_velocity: velocity noise per pixel of height (deep_sort: 1/160).
    """

    def __init__(self, std_weight_position: float = 1.0 / 20, std_weight_velocity: float = 1.0 / 160) -> None:
        self.std_weight_position = std_weight_position
        self.std_weight_velocity = std_weight_velocity

    def initiate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New tracks from measurements (N, 4): mean (N, 8) with zero velocity, diagonal covariance (N, 8, 8)."""
        mean = np.zeros((len(z), 8))
        mean[:, :4] = z
        h = z[:, 3]
        position, velocity = 2 * self.std_weight_position * h, 10 * self.std_weight_velocity * h
        std = np.stack(
            [position, position, np.full_like(h, 1e-2), position, velocity, velocity, np.full_like(h, 1e-5), velocity],
            axis=1,
        )
        return mean, _diagonal(np.square(std))

    def predict(self, mean: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One step ahead (process noise from the height before the step); inputs unchanged."""
        h = mean[:, 3]
        position, velocity = self.std_weight_position * h, self.std_weight_velocity * h
        std = np.stack(
            [position, position, np.full_like(h, 1e-2), position, velocity, velocity, np.full_like(h, 1e-5), velocity],
            axis=1,
        )
        mean = mean.copy()
        mean[:, :4] += mean[:, 4:]
        covariance = covariance.copy()
        covariance[:, :4, :] += covariance[:, 4:, :]
        covariance[:, :, :4] += covariance[:, :, 4:]
        covariance += _diagonal(np.square(std))
        return mean, covariance

    def project(self, mean: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Measurement-space mean (T, 4) and innovation covariance (T, 4, 4) (measurement noise added)."""
        position = self.std_weight_position * mean[:, 3]
        std = np.stack([position, position, np.full_like(position, 1e-1), position], axis=1)
        return mean[:, :4].copy(), covariance[:, :4, :4] + _diagonal(np.square(std))

    def update(self, mean: np.ndarray, covariance: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Measurement update of T tracks with measurements (T, 4): ``K = P H' S^-1``, ``P - K S K'``."""
        projected_mean, S = self.project(mean, covariance)
        gain = np.linalg.solve(S, covariance[:, :, :4].transpose(0, 2, 1)).transpose(0, 2, 1)  # (T, 8, 4)
        mean = mean + (gain @ (z - projected_mean)[:, :, None])[:, :, 0]
        covariance = covariance - gain @ S @ gain.transpose(0, 2, 1)
        return mean, covariance

    def gating_distance(self, mean: np.ndarray, covariance: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distances (T, N) between T projected track states and N measurements (N, 4)."""
        if len(mean) == 0 or len(z) == 0:
            return np.zeros((len(mean), len(z)))
        projected_mean, S = self.project(mean, covariance)
        lower = np.linalg.cholesky(S)
        difference = (z[None, :, :] - projected_mean[:, None, :]).transpose(0, 2, 1)  # (T, 4, N)
        whitened = np.linalg.solve(lower, difference)
        return np.einsum("tkn,tkn->tn", whitened, whitened)


def boxes_to_xyah(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 -> DeepSORT measurements (N, 4) ``[x, y, a, h]`` (centre, width / height, height)."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([boxes[:, 0] + w / 2, boxes[:, 1] + h / 2, w / h, h], axis=1)


def xyah_to_boxes(mean: np.ndarray) -> np.ndarray:
    """DeepSORT states (T, >=4) -> boxes (T, 4) x1, y1, x2, y2."""
    w = mean[:, 2] * mean[:, 3]
    left = mean[:, 0] - w / 2
    top = mean[:, 1] - mean[:, 3] / 2
    return np.stack([left, top, left + w, top + mean[:, 3]], axis=1)


def _diagonal(values: np.ndarray) -> np.ndarray:
    """(T, D) -> (T, D, D) diagonal matrices."""
    out = np.zeros(values.shape + values.shape[-1:])
    index = np.arange(values.shape[-1])
    out[:, index, index] = values
    return out
