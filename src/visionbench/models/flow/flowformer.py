"""FlowFormer (Huang, Shi, Zhang, Wang, Cheung, Qin, Dai and Li, "FlowFormer: A Transformer Architecture for Optical
Flow", ECCV 2022, arXiv:2203.16194): a transformer encoder of the 4D cost volume into a latent cost memory and a
recurrent decoder that queries it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from visionbench.models.flow.base import IterativeFlowModel
from visionbench.models.flow.correlation import CorrelationPyramid, all_pairs_correlation, coords_grid
from visionbench.models.flow.cost_memory import CostMemoryEncoder, attention, feed_forward, sine_embedding
from visionbench.models.flow.raft import FeatureEncoder
from visionbench.models.flow.update import MotionEncoder, UpdateBlock, convex_upsample
from visionbench.models.padding import crop_to
from visionbench.models.widths import scaled

__all__ = ["FlowFormer", "GlobalMotionAggregation", "MemoryReadout"]


class MemoryReadout(nn.Module):
    """Cost-memory attention of the decoder (Sec. 3.3): the query of each frame-1 pixel is its local cost feature
    (:attr:`FlowFormer.flow_token_encoder`), layer-normalised, plus the sine embedding of the position it currently
    points to in frame 2 (``x + f(x)``, 1/8-resolution pixels); it attends (``heads`` heads) to that pixel's latent
    cost tokens. The result is concatenated with the query, projected and added to it, then a pre-norm feed-forward
    (GELU) with a residual follows. Keys and values depend only on the memory, so they are computed once per image
    pair (:meth:`keys_values`).

    Args:
        dim: query channels (paper: 64).
        memory_dim: channels of the latent cost tokens (paper: 128).
        heads: attention heads.
    """

    def __init__(self, dim: int = 64, memory_dim: int = 128, heads: int = 8) -> None:
        super().__init__()
        self.dim = dim
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(memory_dim, dim)
        self.v = nn.Linear(memory_dim, dim)
        self.proj = nn.Linear(2 * dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = feed_forward(dim, dim)

    def keys_values(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.k(memory), self.v(memory)

    def forward(
        self, query: torch.Tensor, coords: torch.Tensor, keys: torch.Tensor, values: torch.Tensor
    ) -> torch.Tensor:
        """``query`` ``B, dim, h, w``; ``coords`` ``B, 2, h, w`` (x, y); keys/values ``B * h * w, K, dim``. Returns
        ``B, dim, h, w``."""
        batch, dim, height, width = query.shape
        query = query.permute(0, 2, 3, 1).reshape(-1, 1, dim)
        position = sine_embedding(coords.permute(0, 2, 3, 1).reshape(-1, 1, 2), dim)
        read = attention(self.q(self.norm1(query) + position), keys, values, self.heads)
        x = query + self.proj(torch.cat([read, query], dim=-1))
        x = x + self.ffn(self.norm2(x))
        return x.view(batch, height, width, dim).permute(0, 3, 1, 2)


class GlobalMotionAggregation(nn.Module):
    """GMA (Jiang et al., "Learning to Estimate Hidden Motions with Global Motion Aggregation", ICCV 2021), used by
    FlowFormer's released update block: a single-head attention between all positions, computed once from the
    context features, aggregates the motion features; ``motion + gamma * attention @ W_v motion`` with ``gamma``
    learned from 0 (so the aggregation starts switched off).

    Args:
        context_dim: channels of the context features (queries and keys have as many).
        motion_dim: channels of the motion features.
    """

    def __init__(self, context_dim: int, motion_dim: int) -> None:
        super().__init__()
        self.to_qk = nn.Conv2d(context_dim, 2 * context_dim, 1, bias=False)
        self.to_v = nn.Conv2d(motion_dim, motion_dim, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(1))

    def attention(self, context: torch.Tensor) -> torch.Tensor:
        """``B, h * w, h * w`` attention weights from ``B, context_dim, h, w`` context features."""
        q, k = self.to_qk(context).flatten(2).chunk(2, dim=1)
        return torch.softmax(q.transpose(1, 2) @ k * q.shape[1] ** -0.5, dim=-1)

    def forward(self, weights: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        values = self.to_v(motion).flatten(2)  # B, C, h*w
        aggregated = (values @ weights.transpose(1, 2)).view_as(motion)
        return motion + self.gamma * aggregated


class FlowFormer(IterativeFlowModel):
    """FlowFormer (Huang et al., ECCV 2022), configurable in size; the defaults are the paper's dimensions.

    - Image encoders: both frames through a feature encoder and a 1x1 convolution (no bias) to ``feature_dim``
      channels at 1/8; image 1 through a context encoder to ``feature_dim`` channels. **Simplification:** the paper
      uses the first two stages of an ImageNet-pretrained Twins-SVT-large for both; here both are RAFT's CNN encoder
      (:class:`~visionbench.models.flow.raft.FeatureEncoder`, residual units ``encoder_widths``, instance norm;
      the released code's ``basicencoder`` option), trained from scratch. Parameters are therefore far fewer than
      the paper's 16.1M.
    - Cost volume: dot products of all pixel pairs of the two feature maps at 1/8, divided by ``sqrt(feature_dim)``
      (RAFT's scaling; the released FlowFormer code uses raw dot products).
    - Cost memory (:class:`~visionbench.models.flow.cost_memory.CostMemoryEncoder`): patchified cost maps
      (``patch_dim``), ``num_latent_tokens`` latent tokens of ``latent_dim`` per frame-1 pixel, ``encoder_depth``
      alternate-group transformer layers (intra-cost-map self-attention; inter-cost-map Twins attention with
      ``window``-sized windows and ``subsample_ratio`` sub-sampling, conditioned on ``context_qk_dim`` channels
      projected from the context features), and a residual.
    - Recurrent decoder, ``iters`` times at 1/8 from zero flow: a local 9x9 cost window (radius 4, one level) is
      sampled around the current position ``x + f(x)`` from the level-0 cost maps; a pointwise MLP (GELU) turns it
      into the cost query (``query_dim``); :class:`MemoryReadout` reads the cost memory with it; the readout and
      the local costs go through RAFT's motion encoder, optionally GMA (``global_motion_aggregation``, as the
      released model), a separable ConvGRU (``hidden_dim``, context ``context_dim`` from a 1x1 projection of the
      context features split with tanh / ReLU), flow head and convex-upsampling mask. Positions are detached
      between iterations.
    - Differences from the released code besides the encoders: the inter-cost-map local windows mask padded
      positions instead of attending to zero padding; the global attention embeds its key positions at cell
      centres; each latent group gets its own image's context when the batch has several images.

    Input: ``image1, image2`` ``B, 3, H, W`` RGB in [0, 1], normalised to ``2 x - 1``, any size (padded at the
    bottom and right to multiples of 8; flows cropped back). Eval mode returns the final flow ``B, 2, H, W`` in
    pixels (u = x, v = y, frame 1 -> 2); training mode ``{"flow": final flow, "predictions": [full-resolution flow
    after each iteration]}`` for :class:`~visionbench.losses.flow.SequenceLoss`.

    Args:
        iters: decoder iterations in training mode (paper: 12).
        eval_iters: iterations in eval mode (released Sintel/KITTI evaluation: 32; ``None`` = ``iters``);
            ``forward(..., iters=n)`` overrides both.
        feature_dim: channels of the features the cost volume is built from and of the context features (256).
        hidden_dim: GRU hidden channels (128).
        context_dim: context channels fed to the GRU (128).
        encoder_widths: stage widths of the CNN encoders (RAFT's 64, 96, 128).
        patch_dim: cost-patch embedding channels (64; tokens have twice as many).
        latent_dim: channels of the latent cost tokens (128).
        num_latent_tokens: latent tokens per cost map (8).
        encoder_depth: alternate-group transformer layers (3).
        heads: attention heads of every transformer layer (8).
        query_dim: cost-query channels of the decoder (64).
        context_qk_dim: context channels concatenated to queries and keys of the inter-cost-map attention (64).
        window: window size of the locally-grouped attention (7).
        subsample_ratio: sub-sampling of the global attention (4).
        global_motion_aggregation: GMA in the update block (released model: yes).
        width_multiplier: scales the CNN widths (encoder stages, motion encoder, flow and mask heads), not the
            dimensions set explicitly above.
    """

    def __init__(
        self,
        iters: int = 12,
        eval_iters: int | None = 32,
        feature_dim: int = 256,
        hidden_dim: int = 128,
        context_dim: int = 128,
        encoder_widths: Sequence[int] = (64, 96, 128),
        patch_dim: int = 64,
        latent_dim: int = 128,
        num_latent_tokens: int = 8,
        encoder_depth: int = 3,
        heads: int = 8,
        query_dim: int = 64,
        context_qk_dim: int = 64,
        window: int = 7,
        subsample_ratio: int = 4,
        global_motion_aggregation: bool = True,
        width_multiplier: float = 1.0,
    ) -> None:
        super().__init__(iters, eval_iters)
        w = partial(scaled, multiplier=width_multiplier)
        self.hidden_dim, self.context_dim = hidden_dim, context_dim
        widths = tuple(w(c) for c in encoder_widths)
        self.feature_encoder = FeatureEncoder(feature_dim, widths, "instance")
        self.channel_convertor = nn.Conv2d(feature_dim, feature_dim, 1, bias=False)
        self.context_encoder = FeatureEncoder(feature_dim, widths, "instance")
        self.context_projection = nn.Conv2d(feature_dim, hidden_dim + context_dim, 1)
        self.cost_encoder = CostMemoryEncoder(
            patch_dim, latent_dim, num_latent_tokens, encoder_depth, heads, window, subsample_ratio,
            feature_dim, context_qk_dim,
        )  # fmt: skip
        self.local_radius = 4
        local_channels = (2 * self.local_radius + 1) ** 2
        self.flow_token_encoder = nn.Sequential(
            nn.Conv2d(local_channels, query_dim, 1), nn.GELU(), nn.Conv2d(query_dim, query_dim, 1)
        )
        self.readout = MemoryReadout(query_dim, latent_dim, heads)
        motion_encoder = MotionEncoder(query_dim + local_channels, (w(256), w(192)), (w(128), w(64)), w(126) + 2)
        aggregator = (
            GlobalMotionAggregation(context_dim, motion_encoder.out_channels) if global_motion_aggregation else None
        )
        self.update_block = UpdateBlock(
            motion_encoder, context_dim, hidden_dim, separable=True, head_channels=w(256), mask_channels=w(256),
            aggregator=aggregator,
        )  # fmt: skip

    def forward(
        self, image1: torch.Tensor, image2: torch.Tensor, iters: int | None = None
    ) -> torch.Tensor | dict[str, torch.Tensor | list[torch.Tensor]]:
        iters = self.iteration_count(iters)
        image1, image2, size = self.prepare_images(image1, image2)
        context_features = self.context_encoder(image1)
        features = self.channel_convertor(self.feature_encoder(torch.cat([image1, image2], dim=0)))
        features1, features2 = features.float().chunk(2, dim=0)
        batch, _, height, width = features1.shape
        cost_maps = all_pairs_correlation(features1, features2)
        memory = self.cost_encoder(cost_maps, (batch, height, width), context_features)
        keys, values = self.readout.keys_values(memory)
        local_costs = CorrelationPyramid(cost_maps, levels=1, radius=self.local_radius)

        hidden, context = self.context_projection(context_features).split([self.hidden_dim, self.context_dim], dim=1)
        hidden, context = torch.tanh(hidden), F.relu(context)
        aggregator = self.update_block.aggregator
        weights = None if aggregator is None else aggregator.attention(context)

        coords0 = coords_grid(batch, height, width, features1)
        coords1 = coords0.clone()
        predictions = []
        for index in range(iters):
            coords1 = coords1.detach()
            local = local_costs.lookup(coords1)
            readout = self.readout(self.flow_token_encoder(local), coords1, keys, values)
            flow = coords1 - coords0
            hidden, mask, delta = self.update_block(hidden, context, torch.cat([readout, local], dim=1), flow, weights)
            coords1 = coords1 + delta
            if self.training or index == iters - 1:
                predictions.append(crop_to(convex_upsample(coords1 - coords0, mask), size))
        return self.output(predictions)
