"""A generator split after its input blocks, so a backend compiles only the dense rest.

The *stems* are the reflection pad + 7x7 conv + instance norm + ReLU that read the network input at each
scale (G1's first block and every enhancer's ``model{n}_1[0:4]``): their convs are 25% of
label2city_1024p's MACs, computed here as one-hot lookups (:mod:`p2phd.models.engine.onehot_lut`), the
norm and ReLU applied per key (:mod:`stem_norm <p2phd.models.engine.backends.stem_norm>`), equal to
torch's within fp32 rounding. The *tail* is everything after them; :class:`Tail` takes the stems'
outputs as its inputs and returns what :meth:`LocalEnhancer.forward_with_coarse` returns.
``Tail(G)(*Stems(G)(x)[0])`` is ``G(x)``.
"""

from __future__ import annotations

import torch
from p2phd.models.engine.backends.stem_norm import norm_relu_dense_into, norm_relu_lookup_into
from p2phd.models.engine.onehot_lut import MAX_KEYS, OneHotConv
from p2phd.models.networks.generator import LocalEnhancer
from torch import nn
from torch.nn.modules.utils import _pair

STEM_LENGTH = 4  # pad, conv, norm, ReLU: the modules of each input block the stems compute


def stem_slots(G: nn.Module) -> list[nn.Sequential]:
    """The sequentials whose first modules (pad, conv, norm, ReLU) read the network input, coarsest first."""
    if isinstance(G, LocalEnhancer):
        return [G.model] + [G.enhancer(n)[0] for n in range(1, G.n_local_enhancers + 1)]
    return [G.model]


class Stems(nn.Module):
    """x -> ([stem output at each scale, coarsest first], [its norm's (mean, variance) at each scale]).

    Each output is 1 x C x h x w in ``dtype``, channels-last in memory (an NHWC tensor viewed as NCHW),
    the layout and precision of the backend that takes it (a frame with too many distinct input vectors
    falls back to the conv, see ``OneHotConv``); the statistics are fp32.

    ``reuse_buffers``: the pooled inputs and the outputs are written into tensors kept from the previous
    call of the same size, so each call overwrites what the last one returned. For a caller that is done
    with the outputs before it calls again (the OpenVINO backend); at 2048x1024 the first touch of ~480 MB
    of fresh memory per frame (page faults) cost about as much as the lookups themselves. This path also
    finds the finest level's keys first: an input channel no key sets is zero in every pixel, so the
    coarser levels pool and hash only the others (9 of 39 channels in the benchmarks' street scene: the
    stems of label2city_1024p at 2048x1024 0.20 -> 0.14-0.17 s)."""

    def __init__(
        self, G: nn.Module, max_keys: int = MAX_KEYS, reuse_buffers: bool = False, dtype: torch.dtype = torch.float32
    ):
        super().__init__()
        self.local = isinstance(G, LocalEnhancer)
        self._pyramid = G.input_pyramid if self.local else None  # a bound method: G is not a submodule
        pool = G.downsample if self.local else None
        # the buffered path computes NVIDIA's input pool itself (see avg_pool_3x3_stride2)
        self._nvidia_pool = pool is None or (
            tuple(_pair(pool.kernel_size)) == (3, 3)
            and tuple(_pair(pool.stride)) == (2, 2)
            and tuple(_pair(pool.padding)) == (1, 1)
            and not pool.ceil_mode
            and not pool.count_include_pad
            and pool.divisor_override is None
        )
        slots = stem_slots(G)
        for seq in slots:
            norm, relu = seq[2], seq[3]
            if not isinstance(norm, nn.InstanceNorm2d) or norm.affine or not isinstance(relu, nn.ReLU):
                raise ValueError("a stem is pad, conv, instance norm (no affine parameters), ReLU")
        self.convs = nn.ModuleList(OneHotConv(seq[0], seq[1], max_keys) for seq in slots)
        self.eps = [seq[2].eps for seq in slots]
        self.dtype = dtype
        self.reuse_buffers = reuse_buffers
        self._buffers: dict[str, torch.Tensor] = {}

    @property
    def input_nc(self) -> int:
        return self.convs[0].in_channels

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]:
        if x.shape[0] != 1:
            raise ValueError("stems take one frame at a time")
        buffered = self.reuse_buffers and x.device.type == "cpu" and self._nvidia_pool
        x = x.float().contiguous() if buffered else x.float()
        finest = len(self.convs) - 1
        found = self.convs[finest].keys(x)
        channels = None  # the input channels the pooled levels hold (None: all)
        if buffered:
            if found is not None:  # every pixel holds one of the keys: the channels no key sets are zero
                channels = found[0].abs().amax(0).nonzero().view(-1)  # everywhere, so they are not pooled
            levels = self._pooled_into_buffers(x, channels)
        else:
            levels = list(reversed(self._pyramid(x))) if self.local else [x]
        outputs, stats = [], []
        for n, (conv, level) in enumerate(zip(self.convs, levels, strict=True)):
            h, w = level.shape[2:]
            shape = (h * w, conv.out_channels)
            if self.reuse_buffers:
                out = self._buffer(f"stem{n}", shape, self.dtype)
            else:
                out = level.new_empty(shape, dtype=self.dtype)
            level_channels = None if n == finest else channels
            keys = found if n == finest else conv.keys(level, level_channels)
            if keys is not None:
                stats.append(norm_relu_lookup_into(conv.parts(keys, h, w, level_channels), out, self.eps[n]))
            else:  # too many distinct input vectors: the conv itself, on all channels
                stats.append(
                    norm_relu_dense_into(conv.conv(_all_channels(level, level_channels, conv)), out, self.eps[n])
                )
            outputs.append(out.view(1, h, w, -1).permute(0, 3, 1, 2))  # NCHW view of the NHWC buffer
        return outputs, stats

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        buffer = self._buffers.get(name)
        if buffer is None or tuple(buffer.shape) != shape or buffer.dtype != dtype:
            self._buffers.pop(name, None)  # free the old size before allocating the new one
            buffer = self._buffers[name] = torch.empty(shape, dtype=dtype)
        return buffer

    def _buffer_shapes(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """The buffers a frame of input ``shape`` (1 x C x H x W) uses, by name."""
        _, c, h, w = shape
        shapes, sizes = {}, [(h, w)]
        for n in range(len(self.convs) - 1):  # each pooled level: ceil(h/2) x ceil(w/2)
            h, w = sizes[-1]
            shapes[f"pooled{n}"] = (1, c, (h + 1) // 2, (w + 1) // 2)
            if n == 0:
                shapes["pool_rows"] = (POOL_CHANNELS, (h + 1) // 2, w)  # the largest level's, reused below it
            sizes.append(((h + 1) // 2, (w + 1) // 2))
        for n, (conv, (h, w)) in enumerate(zip(self.convs, reversed(sizes), strict=True)):
            shapes[f"stem{n}"] = (h * w, conv.out_channels)
        return shapes

    def reserve(self, shape: tuple[int, ...]) -> None:
        """Allocate and touch the buffers for input ``shape`` ahead of the first frame (with
        ``reuse_buffers``): at 2048x1024 the first frame's page faults on ~600 MB cost 1.3 s."""
        if self.reuse_buffers and self._nvidia_pool:
            for name, buffer_shape in self._buffer_shapes(tuple(shape)).items():
                self._buffer(name, buffer_shape, self.dtype if name.startswith("stem") else torch.float32).zero_()

    def _pooled_into_buffers(self, x: torch.Tensor, channels: torch.Tensor | None) -> list[torch.Tensor]:
        """The input pyramid, coarsest first, pooled into the kept buffers; with ``channels`` the pooled
        levels hold only those channels of ``x`` (the first ``len(channels)`` of their buffers)."""
        shapes = self._buffer_shapes(tuple(x.shape))
        levels = [x]
        picked = None if channels is None else channels.tolist()  # from x; every pooled level holds just them
        for n in range(len(self.convs) - 1):  # NVIDIA's AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
            src, out = levels[-1], self._buffer(f"pooled{n}", shapes[f"pooled{n}"])
            if picked is not None:
                out = out[:, : len(picked)]
            rows = self._buffer("pool_rows", shapes["pool_rows"])[:, : out.shape[2], : src.shape[3]]
            avg_pool_3x3_stride2(src[0], out[0], rows, picked if n == 0 else None)
            levels.append(out)
        return list(reversed(levels))


def _all_channels(level: torch.Tensor, channels: torch.Tensor | None, conv: OneHotConv) -> torch.Tensor:
    """``level`` with every input channel of ``conv`` (the ones it does not hold are zero)."""
    if channels is None:
        return level
    full = level.new_zeros(level.shape[0], conv.in_channels, *level.shape[2:])
    return full.index_copy_(1, channels, level)


POOL_CHANNELS = 4  # channels pooled per pass: a 4 x (H/2) x W scratch stays small and in cache longer


def _sum3_stride2(src: torch.Tensor, dim: int, out: torch.Tensor) -> None:
    """out[j] = src[2j-1] + src[2j] + src[2j+1] along ``dim`` (terms outside src left out)."""
    n = src.shape[dim]
    m, k = (n + 1) // 2, n // 2  # even and odd positions
    even = src[(slice(None),) * dim + (slice(0, None, 2),)]
    odd = src[(slice(None),) * dim + (slice(1, None, 2),)]
    out.copy_(even)
    out.narrow(dim, 0, k).add_(odd)  # src[2j+1]
    if m > 1:
        out.narrow(dim, 1, m - 1).add_(odd.narrow(dim, 0, m - 1))  # src[2j-1]


def _window_counts(n: int) -> torch.Tensor:
    """How many of the 3 taps of each stride-2 window fall inside a length-``n`` axis."""
    m, k = (n + 1) // 2, n // 2
    counts = torch.ones(m)
    counts[:k] += 1
    counts[1:] += 1
    return counts


def avg_pool_3x3_stride2(
    src: torch.Tensor, out: torch.Tensor, scratch: torch.Tensor, channels: list[int] | None = None
) -> None:
    """``out`` = NVIDIA's ``AvgPool2d(3, stride=2, padding=1, count_include_pad=False)`` of ``src`` (C x H x W
    fp32), as separable strided sums divided by each window's count: equal within fp32 rounding, and
    2.6x faster than torch's CPU avg_pool2d on 36 x 1024 x 2048 (82 vs 213 ms). ``scratch``: a
    ``POOL_CHANNELS x ceil(H/2) x W`` buffer. ``channels``: pool only these channels of ``src``, into
    ``out``'s channels in that order."""
    c, h, w = src.shape
    counts = _window_counts(h)[:, None] * _window_counts(w)[None, :]
    if channels is not None:  # one channel per pass
        for index, channel in enumerate(channels):
            _sum3_stride2(src[channel : channel + 1], 1, scratch[:1])
            _sum3_stride2(scratch[:1], 2, out[index : index + 1])
        out.div_(counts)
        return
    for c0 in range(0, c, scratch.shape[0]):
        part = src[c0 : c0 + scratch.shape[0]]
        rows = scratch[: part.shape[0]]
        _sum3_stride2(part, 1, rows)
        _sum3_stride2(rows, 2, out[c0 : c0 + part.shape[0]])
    out.div_(counts)


class Tail(nn.Module):
    """The generator after its stems: ``(stem outputs, coarsest first) -> (G(x), coarse features)``
    (``coarse`` is None for a global generator). Shares G's modules; holds no copies."""

    def __init__(self, G: nn.Module):
        super().__init__()
        self.G = G
        self.local = isinstance(G, LocalEnhancer)

    def forward(self, *stems: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        G = self.G
        out = G.model[STEM_LENGTH:](stems[0])
        if not self.local:
            return out, None
        coarse = out
        for n in range(1, G.n_local_enhancers + 1):
            down, up = G.enhancer(n)
            coarse = out
            out = up(down[STEM_LENGTH:](stems[n]) + out)
        return out, coarse
