"""The generators' input convolutions as a lookup over the frame's distinct input vectors.

G2's first 7x7 conv sees the one-hot label map + instance edges + cluster features, G1's first one its
average-pooled copy: a 2048x1024 frame holds only tens to a few thousand distinct input vectors
("keys"). With the key of every pixel known, the convolution is::

    out[p] = bias + sum_t  W_t . x[p + offset_t]  =  bias + sum_t  T[key(p + offset_t), t]

where ``T[k, t] = W_t . key_k`` is a (keys x taps x C_out) table built by one small matmul. A window
holding a single key needs one lookup of ``sum_t T[k, t]``; mixed windows (object boundaries, a few to
~20% of pixels) sum their 49 taps with ``embedding_bag``. The arithmetic is the convolution's, in fp32,
in another order: equal to it within fp32 rounding (not bit for bit, so fp32 runs keep the conv for
NVIDIA parity). Frames with too many distinct vectors (photographic feature maps) fall back to the conv.

Keys are found by hashing each pixel's vector with two random projections (one fp32 matmul), run-length
coding along rows and ``unique`` over the run starts only. Two vectors share a key only if both
projections agree to fp32 rounding; identical vectors that round apart get two keys (still exact, just
counted as a mixed window).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MAX_KEYS = 8192  # table = keys x 49 x C_out fp32: 8192 x 49 x 64 x 4 B = 100 MiB at the worst
CHUNK = 1 << 15  # mixed pixels per embedding_bag call (bounded temporary memory)


class OneHotConv(nn.Conv2d):
    """``conv(reflection_pad(x))`` for a stride-1, square-kernel conv; drop-in for the pad + conv pair.

    A ``Conv2d`` subclass holding the conv's own parameters (so state-dict names and receptive-field
    arithmetic are unchanged). The lookup tables are fp32 copies taken at construction (before the
    engine casts the generator); the output is cast to the input's dtype.
    """

    def __init__(self, pad: nn.ReflectionPad2d, conv: nn.Conv2d, max_keys: int = MAX_KEYS):
        k = conv.kernel_size[0]
        if conv.kernel_size != (k, k) or conv.stride != (1, 1) or conv.padding != (0, 0) or conv.groups != 1:
            raise ValueError("OneHotConv needs a square, stride-1, unpadded, ungrouped convolution")
        if conv.dilation != (1, 1) or tuple(pad.padding) != (k // 2,) * 4:
            raise ValueError("OneHotConv needs reflection padding of kernel_size // 2 and no dilation")
        super().__init__(conv.in_channels, conv.out_channels, k, bias=conv.bias is not None)
        self.weight, self.bias = conv.weight, conv.bias  # shared, not copied
        self.pad, self.k, self.max_keys = pad, k, max_keys
        w = conv.weight.detach().float()
        c_out = w.shape[0]
        # (C_in, taps * C_out): keys @ this = T with T[k, t*C_out + o] = sum_c W[o, c, t] key[k, c]
        self.register_buffer("w_taps", w.permute(1, 2, 3, 0).reshape(w.shape[1], k * k * c_out).contiguous(), False)
        bias = conv.bias.detach().float() if conv.bias is not None else torch.zeros(c_out)
        self.register_buffer("bias32", bias.clone(), False)
        gen = torch.Generator().manual_seed(1234)
        self.register_buffer("proj", torch.randn(2, w.shape[1], generator=gen), False)
        self.last_keys = 0  # distinct input vectors of the last call (0: fell back to the conv)

    def _apply(self, fn, recurse=True):
        # ``Engine`` casts the whole generator to bf16: keep the lookup's own tables in fp32.
        buffers = {n: getattr(self, n) for n in ("w_taps", "bias32", "proj")}
        out = super()._apply(fn, recurse)
        for name, old in buffers.items():
            setattr(self, name, getattr(self, name).to(dtype=old.dtype))
        return out

    # Data-dependent shapes (the frame's distinct keys) and a NumPy step: torch.compile runs the rest of
    # the generator compiled and this eagerly (tracing it failed in torch 2.13: "Guard failed on the
    # same frame it was created", from the NumPy array it wraps).
    @torch.compiler.disable
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._one(x[i : i + 1]) for i in range(x.shape[0])]) if x.shape[0] != 1 else self._one(x)

    def conv(self, x: torch.Tensor) -> torch.Tensor:
        """The convolution itself (pad + conv), for frames the lookup does not take."""
        return super().forward(self.pad(x))

    def _one(self, x: torch.Tensor) -> torch.Tensor:
        found = self.keys(x)
        if found is None:
            return self.conv(x)
        h, w = x.shape[2:]
        key_map, single, mixed, values = self.parts(found, h, w)
        # channel-major from the start: transposing a (H*W, C_out) result cost 1 s at 2048x1024 (issue 11)
        out = torch.index_select(single.T.contiguous(), 1, key_map)  # (C_out, H*W)
        if mixed.numel():
            out[:, mixed] = values.T
        return out.to(x.dtype).view(1, -1, h, w).contiguous(memory_format=_format_of(x))

    def keys(self, x: torch.Tensor, channels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor] | None:
        """One frame's (N=1) distinct input vectors and the flat key map (:func:`keys_of`); None where the
        lookup does not apply (the conv then). ``channels``: ``x`` holds only these of the conv's input
        channels, every other one being zero in every pixel."""
        _, c, h, w = x.shape
        self.last_keys = 0
        if h <= self.k // 2 or w <= self.k // 2:
            return None
        proj = self.proj if channels is None else self.proj[:, channels]
        found = keys_of(x[0].reshape(c, h * w), proj.to(x.device), self.max_keys, w)
        if found is not None:
            self.last_keys = found[0].shape[0]
        return found

    def parts(
        self, found: tuple[torch.Tensor, torch.Tensor], h: int, w: int, channels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The output of an h x w frame with keys ``found`` (from :meth:`keys`, same ``channels``) in the
        parts of :func:`lookup_parts`, the flat key map first: ``(key_map, single, mixed, values)``."""
        key_vectors, key_map = found
        w_taps = self.w_taps if channels is None else self.w_taps[channels]
        return (key_map, *lookup_parts(key_vectors, key_map.view(h, w), w_taps, self.bias32, self.k))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", lookup max_keys={self.max_keys}"


def _format_of(x: torch.Tensor) -> torch.memory_format:
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def keys_of(
    pixels: torch.Tensor, proj: torch.Tensor, max_keys: int, row: int
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(distinct vectors K x C fp32, key index of every pixel) of a C x N pixel matrix, or None when
    there are more than ``max_keys``. ``row``: pixels per image row (runs never cross rows)."""
    n = pixels.shape[1]
    pixels32 = pixels.float()  # bf16 -> fp32 is exact
    hashes = proj @ pixels32  # 2 x N in one pass (measured: 77 ms at 2048x1024; N x C @ C x 2: 740 ms)
    # two fp32 hashes -> one int64; stack interleaves them 8x faster than a transposing copy (2 vs 18 ms)
    packed = torch.stack((hashes[0], hashes[1]), 1).view(torch.int64).view(-1)
    starts = torch.ones(n, dtype=torch.bool, device=pixels.device)
    starts[1:] = packed[1:] != packed[:-1]
    starts[::row] = True
    start_index = starts.nonzero().view(-1)
    uniq, inverse = torch.unique(packed[start_index], return_inverse=True)
    if uniq.numel() > max_keys:
        return None
    run_of_pixel = torch.cumsum(starts, 0) - 1
    key_map = inverse[run_of_pixel]
    first = torch.empty(uniq.numel(), dtype=torch.long, device=pixels.device)
    first.scatter_(0, inverse, start_index)
    return pixels[:, first].T.float(), key_map


def lookup_parts(
    key_vectors: torch.Tensor, key_map: torch.Tensor, w_taps: torch.Tensor, bias: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The reflect-padded k x k convolution of the image whose pixel (y, x) holds
    ``key_vectors[key_map[y, x]]``, in parts (fp32): ``single`` (keys x C_out), the output of a window on
    one key; ``mixed`` (m,), the flat indices of the pixels whose window holds several keys; ``values``
    (m x C_out), their outputs. Every other pixel's output is ``single[key_map[pixel]]``."""
    h, w = key_map.shape
    r, taps = k // 2, k * k
    n_keys = key_vectors.shape[0]
    c_out = bias.numel()
    table = (key_vectors @ w_taps).view(n_keys, taps, c_out)  # T[key, tap, out]
    single = table.sum(1) + bias  # the whole window on one key
    padded = F.pad(key_map.view(1, 1, h, w).float(), (r, r, r, r), mode="reflect")[0, 0]
    mixed = mixed_windows(padded, k).view(-1).nonzero().view(-1)
    values = torch.empty(mixed.numel(), c_out, dtype=torch.float32, device=key_map.device)
    if mixed.numel():
        wp = w + 2 * r
        # index into the flat (key, tap) table: key * taps + tap, read at each tap's shifted position
        keyed_taps = padded.view(-1).long() * taps
        offsets = (torch.arange(k, device=key_map.device) * wp).repeat_interleave(k) + torch.arange(
            k, device=key_map.device
        ).repeat(k)
        tap_ids = torch.arange(taps, device=key_map.device)
        flat_table = table.view(n_keys * taps, c_out)
        for start in range(0, mixed.numel(), CHUNK):
            chunk = mixed[start : start + CHUNK]
            base = chunk // w * wp + chunk % w
            window = keyed_taps[base[:, None] + offsets] + tap_ids  # (m, taps): key * taps + tap
            values[start : start + CHUNK] = F.embedding_bag(window, flat_table, mode="sum") + bias
    return single, mixed, values


def mixed_windows(padded: torch.Tensor, k: int) -> torch.Tensor:
    """H x W bool: whether the k x k window at each pixel of the reflect-padded (H+k-1) x (W+k-1) key
    map (float, keys < 2**24 so exact) holds more than one key, i.e. its max and min differ.
    On the CPU OpenCV's SIMD dilate / erode (5x faster than torch's separable max pools here)."""
    if padded.device.type == "cpu":
        import cv2

        keys = padded.numpy()
        kernel = np.ones((k, k), np.uint8)
        r = k // 2
        valid = (slice(r, keys.shape[0] - r), slice(r, keys.shape[1] - r))
        hi = cv2.dilate(keys, kernel, borderType=cv2.BORDER_REPLICATE)[valid]
        lo = cv2.erode(keys, kernel, borderType=cv2.BORDER_REPLICATE)[valid]
        return torch.from_numpy(hi != lo)
    hi = F.max_pool2d(F.max_pool2d(padded[None, None], (1, k), 1), (k, 1), 1)[0, 0]
    lo = -F.max_pool2d(F.max_pool2d(-padded[None, None], (1, k), 1), (k, 1), 1)[0, 0]
    return hi != lo


def install(generator: nn.Module, max_keys: int = MAX_KEYS, pooled: bool = True) -> list[OneHotConv]:
    """Replace the reflection pad + conv that read the network input (G1's first layer and every
    enhancer's ``model{n}_1``) by :class:`OneHotConv`; in place, call before casting to bf16.
    The pad's slot becomes ``nn.Identity``, so indices (and NVIDIA's parameter names) are kept.
    ``pooled=False`` leaves a local enhancer's G1 (avg-pooled input, more keys, 1/4 of the pixels) on
    the conv: measured there in fp32 the lookup did not pay (0.47 s vs 0.45 s at 512x256, ngf 16)."""
    from p2phd.models.networks.generator import LocalEnhancer

    local = isinstance(generator, LocalEnhancer)
    seqs = [generator.model] if pooled or not local else []
    if local:
        seqs += [generator.enhancer(n)[0] for n in range(1, generator.n_local_enhancers + 1)]
    installed = []
    for seq in seqs:
        pad, conv = seq[0], seq[1]
        if isinstance(pad, nn.ReflectionPad2d) and isinstance(conv, nn.Conv2d):
            lut = OneHotConv(pad, conv, max_keys)
            seq[0], seq[1] = nn.Identity(), lut
            installed.append(lut)
    return installed
