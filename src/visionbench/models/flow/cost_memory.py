"""FlowFormer's cost-volume encoder (Huang, Shi, Zhang, Wang, Cheung, Qin, Dai and Li, "FlowFormer: A Transformer
Architecture for Optical Flow", ECCV 2022, arXiv:2203.16194, Sec. 3.2): each frame-1 pixel's 2D cost map is
patchified, summarised into a few latent cost tokens, and the tokens are refined by alternate-group transformer
layers into the cost memory that the decoder queries."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CostMemoryEncoder",
    "CostPatchEmbedding",
    "CrossAttentionBlock",
    "GlobalSubsampledAttention",
    "InterCostMapLayer",
    "LocalWindowAttention",
    "SelfAttentionBlock",
    "attention",
    "sine_embedding",
]

PATCH_SIZE = 8
"""Cost-map patch size: three stride-2 convolutions."""


def sine_embedding(coords: torch.Tensor, dim: int, max_position: float = 200.0) -> torch.Tensor:
    """Sinusoidal embedding of 2D positions ``..., 2`` (x, y) with ``dim`` channels (a multiple of 4): for
    ``k = 0 .. dim/4 - 1`` and ``a = pi * k / max_position``, ``[sin(a x), cos(a x), sin(a y), cos(a y)]``
    (FlowFormer's linearly spaced frequencies, suited to coordinates up to ~``max_position`` feature pixels)."""
    if dim % 4:
        raise ValueError(f"sine_embedding needs a multiple of 4 channels, got {dim}")
    frequencies = torch.arange(dim // 4, device=coords.device, dtype=coords.dtype) * (math.pi / max_position)
    x = coords[..., :1] * frequencies
    y = coords[..., 1:2] * frequencies
    return torch.cat([x.sin(), x.cos(), y.sin(), y.cos()], dim=-1)


def grid_positions(height: int, width: int, like: torch.Tensor, step: float = 1.0, offset: float = 0.0):
    """``height * width, 2`` (x, y) positions ``offset + step * index`` of a row-major grid."""
    ys, xs = torch.meshgrid(
        torch.arange(height, device=like.device, dtype=like.dtype),
        torch.arange(width, device=like.device, dtype=like.dtype),
        indexing="ij",
    )
    return torch.stack([xs, ys], dim=-1).reshape(-1, 2) * step + offset


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Multi-head scaled dot-product attention on ``N, L, D`` queries and ``N, S, D`` keys / values (``D``
    divisible by ``heads``); ``mask`` (bool, True = attend) broadcasts to ``N, heads, L, S``. Returns ``N, L, D``."""
    n, length, dim = q.shape

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(t.shape[0], t.shape[1], heads, t.shape[2] // heads).transpose(1, 2)

    out = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=mask)
    return out.transpose(1, 2).reshape(n, length, v.shape[-1])


def feed_forward(dim: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class CostPatchEmbedding(nn.Module):
    """Cost-map patchification: the ``N, 1, H2, W2`` cost maps are zero-padded at the bottom and right to multiples
    of 8 and embedded by three 6x6 stride-2 convolutions (ReLU between) to ``patch_dim`` channels per 8x8 patch;
    the sinusoidal embedding of each patch centre (``patch_dim`` channels) is concatenated and a two-layer
    pointwise MLP (ReLU) and LayerNorm give ``N, ceil(H2/8) * ceil(W2/8), 2 * patch_dim`` patch tokens."""

    def __init__(self, patch_dim: int = 64) -> None:
        super().__init__()
        self.patch_dim = patch_dim
        widths = (max(1, patch_dim // 4), max(1, patch_dim // 2), patch_dim)
        self.convs = nn.Sequential(
            nn.Conv2d(1, widths[0], 6, 2, padding=2),
            nn.ReLU(),
            nn.Conv2d(widths[0], widths[1], 6, 2, padding=2),
            nn.ReLU(),
            nn.Conv2d(widths[1], widths[2], 6, 2, padding=2),
        )
        self.mlp = nn.Sequential(
            nn.Linear(2 * patch_dim, 2 * patch_dim), nn.ReLU(), nn.Linear(2 * patch_dim, 2 * patch_dim)
        )
        self.norm = nn.LayerNorm(2 * patch_dim)

    def forward(self, cost_maps: torch.Tensor) -> torch.Tensor:
        height, width = cost_maps.shape[-2:]
        x = self.convs(F.pad(cost_maps, (0, -width % PATCH_SIZE, 0, -height % PATCH_SIZE)))
        n, _, rows, cols = x.shape
        x = x.flatten(2).transpose(1, 2)  # N, patches, patch_dim
        centres = grid_positions(rows, cols, x, step=PATCH_SIZE, offset=(PATCH_SIZE - 1) / 2)
        position = sine_embedding(centres, self.patch_dim).expand(n, -1, -1)
        return self.norm(self.mlp(torch.cat([x, position], dim=-1)))


class CrossAttentionBlock(nn.Module):
    """Pre-norm cross-attention of ``query`` tokens (``dim``) to ``source`` tokens (``source_dim``) with a residual,
    then a pre-norm feed-forward (hidden ``dim``, GELU) with a residual."""

    def __init__(self, dim: int, source_dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(source_dim, dim)
        self.v = nn.Linear(source_dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = feed_forward(dim, dim)

    def forward(self, query: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        q = self.q(self.norm1(query)).expand(source.shape[0], -1, -1)
        x = query + self.proj(attention(q, self.k(source), self.v(source), self.heads))
        return x + self.ffn(self.norm2(x))


class SelfAttentionBlock(nn.Module):
    """Pre-norm multi-head self-attention and feed-forward (hidden ``dim``, GELU), each with a residual: the
    intra-cost-map layer among the latent tokens of one frame-1 pixel."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = feed_forward(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        x = x + self.proj(attention(q, k, v, self.heads))
        return x + self.ffn(self.norm2(x))


class LocalWindowAttention(nn.Module):
    """Twins' locally-grouped self-attention over the frame-1 pixel grid, in non-overlapping
    ``window x window`` windows, with FlowFormer's additions: queries and keys see the concatenation of the token
    and a projection of the context features (``context_qk_dim``) plus the sine embedding of the position within
    the window; values see the token alone. The grid is zero-padded to whole windows and padded keys are masked.

    ``forward(x, size, context)``: ``x`` ``M, h * w, dim``; ``context`` ``M, h * w, context_channels``."""

    def __init__(self, dim: int, heads: int, window: int, context_channels: int, context_qk_dim: int) -> None:
        super().__init__()
        self.heads = heads
        self.window = window
        self.context_proj = nn.Linear(context_channels, context_qk_dim)
        self.q = nn.Linear(dim + context_qk_dim, dim)
        self.k = nn.Linear(dim + context_qk_dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def partition(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """``M, h * w, C`` -> ``M * windows, window**2, C`` (zero-padded)."""
        m, _, channels = x.shape
        s = self.window
        x = F.pad(x.view(m, height, width, channels), (0, 0, 0, -width % s, 0, -height % s))
        rows, cols = x.shape[1] // s, x.shape[2] // s
        return x.view(m, rows, s, cols, s, channels).transpose(2, 3).reshape(m * rows * cols, s * s, channels)

    def forward(self, x: torch.Tensor, size: tuple[int, int], context: torch.Tensor) -> torch.Tensor:
        height, width = size
        m, _, dim = x.shape
        s = self.window
        rows, cols = (height + s - 1) // s, (width + s - 1) // s  # ceil; also exact in ONNX (its Div truncates)
        qk_input = self.partition(torch.cat([x, self.context_proj(context)], dim=-1), height, width)
        qk_input = qk_input + sine_embedding(grid_positions(s, s, x), qk_input.shape[-1])
        valid = self.partition(x.new_ones(1, height * width, 1), height, width)[..., 0] > 0  # windows, s*s
        mask = valid.view(1, rows * cols, 1, 1, s * s).expand(m, -1, -1, -1, -1).reshape(m * rows * cols, 1, 1, s * s)
        out = attention(self.q(qk_input), self.k(qk_input), self.v(self.partition(x, height, width)), self.heads, mask)
        out = out.view(m, rows, cols, s, s, dim).transpose(2, 3).reshape(m, rows * s, cols * s, dim)
        return self.proj(out[:, :height, :width].reshape(m, height * width, dim))


class GlobalSubsampledAttention(nn.Module):
    """Twins' global sub-sampled attention over the frame-1 pixel grid with FlowFormer's additions: every position
    queries keys and values summarised by ``ratio x ratio`` stride-``ratio`` convolutions (then LayerNorm) of the
    zero-padded grid. Queries and the key convolution see the token concatenated with projected context features;
    queries get the sine embedding of their position, keys that of their cell centre.

    ``forward(x, size, context)``: ``x`` ``M, h * w, dim``; ``context`` ``M, h * w, context_channels``."""

    def __init__(self, dim: int, heads: int, ratio: int, context_channels: int, context_qk_dim: int) -> None:
        super().__init__()
        self.heads = heads
        self.ratio = ratio
        self.context_proj = nn.Linear(context_channels, context_qk_dim)
        self.q = nn.Linear(dim + context_qk_dim, dim)
        self.reduce_key = nn.Conv2d(dim + context_qk_dim, dim, ratio, ratio)
        self.reduce_value = nn.Conv2d(dim, dim, ratio, ratio)
        self.norm = nn.LayerNorm(dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def reduce(self, conv: nn.Conv2d, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        m, _, channels = x.shape
        grid = x.transpose(1, 2).reshape(m, channels, height, width)
        grid = F.pad(grid, (0, -width % self.ratio, 0, -height % self.ratio))
        return self.norm(conv(grid).flatten(2).transpose(1, 2))

    def forward(self, x: torch.Tensor, size: tuple[int, int], context: torch.Tensor) -> torch.Tensor:
        height, width = size
        qk_input = torch.cat([x, self.context_proj(context)], dim=-1)
        q = self.q(qk_input + sine_embedding(grid_positions(height, width, x), qk_input.shape[-1]))
        keys = self.reduce(self.reduce_key, qk_input, height, width)
        values = self.reduce(self.reduce_value, x, height, width)
        rows, cols = (height + self.ratio - 1) // self.ratio, (width + self.ratio - 1) // self.ratio
        centres = grid_positions(rows, cols, x, step=self.ratio, offset=(self.ratio - 1) / 2)
        k = self.k(keys + sine_embedding(centres, keys.shape[-1]))
        return self.proj(attention(q, k, self.v(values), self.heads))


class _Block(nn.Module):
    """Pre-norm residual attention (with context) and MLP (ratio 4, GELU)."""

    def __init__(self, dim: int, attention_layer: nn.Module) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = attention_layer
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = feed_forward(dim, 4 * dim)

    def forward(self, x: torch.Tensor, size: tuple[int, int], context: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x), size, context)
        return x + self.mlp(self.norm2(x))


class InterCostMapLayer(nn.Module):
    """The inter-cost-map half of an alternate-group transformer layer: the ``k``-th latent tokens of all frame-1
    pixels form one group (an ``h x w`` grid) and attend to each other with Twins' spatially separable attention, a
    locally-grouped block then a global sub-sampled block (:class:`LocalWindowAttention`,
    :class:`GlobalSubsampledAttention`), keeping the cost linear in ``h * w``."""

    def __init__(
        self, dim: int, heads: int, window: int, ratio: int, context_channels: int, context_qk_dim: int
    ) -> None:
        super().__init__()
        self.local_block = _Block(dim, LocalWindowAttention(dim, heads, window, context_channels, context_qk_dim))
        self.global_block = _Block(dim, GlobalSubsampledAttention(dim, heads, ratio, context_channels, context_qk_dim))

    def forward(self, x: torch.Tensor, size: tuple[int, int], context: torch.Tensor) -> torch.Tensor:
        return self.global_block(self.local_block(x, size, context), size, context)


class CostMemoryEncoder(nn.Module):
    """FlowFormer's latent cost encoder (Sec. 3.2).

    1. Cost-map patchification (:class:`CostPatchEmbedding`): each frame-1 pixel's ``H2 x W2`` cost map becomes
       ``ceil(H2/8) * ceil(W2/8)`` patch tokens of ``2 * patch_dim`` channels.
    2. Latent summarisation: ``num_tokens`` learned latent queries (``latent_dim``) cross-attend to the patch tokens
       of each cost map (:class:`CrossAttentionBlock`), giving that pixel's latent cost tokens.
    3. ``depth`` alternate-group transformer layers: intra-cost-map self-attention among one pixel's tokens
       (:class:`SelfAttentionBlock`), then inter-cost-map attention among the same-index tokens of all pixels
       (:class:`InterCostMapLayer`, conditioned on the context features).
    4. A residual from step 2's tokens to the output (the released ``cost_encoder_res``).

    ``forward(cost_maps, size, context)``: ``cost_maps`` ``B * h * w, 1, H2, W2``; ``size = (B, h, w)``;
    ``context`` ``B, context_channels, h, w``. Returns the cost memory ``B * h * w, num_tokens, latent_dim``.
    """

    def __init__(
        self,
        patch_dim: int = 64,
        latent_dim: int = 128,
        num_tokens: int = 8,
        depth: int = 3,
        heads: int = 8,
        window: int = 7,
        ratio: int = 4,
        context_channels: int = 256,
        context_qk_dim: int = 64,
    ) -> None:
        super().__init__()
        self.num_tokens = num_tokens
        self.patch_embedding = CostPatchEmbedding(patch_dim)
        self.latent_tokens = nn.Parameter(torch.randn(1, num_tokens, latent_dim))
        self.summarise = CrossAttentionBlock(latent_dim, 2 * patch_dim, heads)
        self.intra_layers = nn.ModuleList(SelfAttentionBlock(latent_dim, heads) for _ in range(depth))
        self.inter_layers = nn.ModuleList(
            InterCostMapLayer(latent_dim, heads, window, ratio, context_channels, context_qk_dim) for _ in range(depth)
        )

    def forward(self, cost_maps: torch.Tensor, size: tuple[int, int, int], context: torch.Tensor) -> torch.Tensor:
        batch, height, width = size
        k = self.num_tokens
        x = self.summarise(self.latent_tokens, self.patch_embedding(cost_maps))  # B*h*w, K, D
        summary = x
        dim = x.shape[-1]
        # one group per latent token index: B*K grids of h*w tokens, each with its image's context features
        context = context.flatten(2).transpose(1, 2).repeat_interleave(k, dim=0)  # B*K, h*w, C
        for intra, inter in zip(self.intra_layers, self.inter_layers, strict=True):
            x = intra(x)
            x = x.view(batch, height * width, k, dim).transpose(1, 2).reshape(batch * k, height * width, dim)
            x = inter(x, (height, width), context)
            x = x.view(batch, k, height * width, dim).transpose(1, 2).reshape(batch * height * width, k, dim)
        return x + summary
