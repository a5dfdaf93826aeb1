"""Batched Monte-Carlo-dropout inference.

One compiled function evaluates a block of windows × a block of samples per
call: the layers before the first dropout run once per window, the rest on the
windows repeated S times with their dropout masks; the function returns only
the sufficient statistics (:class:`~aistem.core.uncertainty.MCStats`), so memory
is bounded by the block size whatever T is.  Dropout is applied explicitly for
every ``Dropout`` layer of the model, so a model loaded without its "always-on"
flag still samples.  The masks are inputs of the compiled function, drawn on the
host per (seed, sample, layer) (:mod:`aistem.core.masks`) and cached for the
seed, pre-scaled in the compute dtype, so applying one is a single multiply.  On
TensorFlow the function runs as a graph on oneDNN by default (faster than XLA on
the CPUs measured, and the only way to use native bfloat16); JAX compiles it with
``jax.jit``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import numpy as np

from .adaptive import AdaptiveSettings, MomentStats, settled, stage_schedule
from .backend import asnumpy, get_array_module, is_xla_failure, reduced_precision_copy, resolve_precision, to_tensor
from .masks import MaskLayout, dropout_masks
from .uncertainty import MCStats

__all__ = ["AnalysisCancelled", "MCDropoutPredictor"]


class AnalysisCancelled(Exception):
    """The caller's ``cancel()`` returned True: the MC sampling (and the analysis) stopped before the end."""


class MCDropoutPredictor:
    """Monte-Carlo-dropout sampler for an AI-STEM model.

    Parameters
    ----------
    model : AistemModel or keras.Model
        The network (Sequential: conv/pool/flatten/dense/activation/dropout layers).
    windows_per_call : int
        Windows per compiled call.
    samples_per_call : int
        MC samples per window per call; a call evaluates ``windows_per_call × samples_per_call`` networks.
    shared_masks : bool
        Draw each call's dropout masks once for all its windows (see :meth:`_dropout`); False draws
        a mask per window and sample (the straightforward version).
    precision : str
        Compute dtype of the layers: ``float32``, or ``bfloat16``/``float16`` (mixed precision: weights kept in
        float32, convolutions in the reduced type; ``bfloat16`` uses AVX512-BF16 on CPUs that have it), or
        ``auto`` (:func:`aistem.core.backend.resolve_precision`); :attr:`precision` holds the one used.
    jit : bool, optional
        Compile the sampler with XLA: ``tf.function(jit_compile=True)`` on TensorFlow (falling back to a plain
        ``tf.function`` if XLA cannot compile it), ``jax.jit`` on JAX. The torch backend ignores it. None (the
        default) picks per backend: JAX compiles with XLA; TensorFlow runs a plain ``tf.function``, whose oneDNN
        kernels were faster than XLA on the CPUs measured (``benchmarks/RESULTS.md``) and are the only ones with
        native bfloat16 (XLA's CPU backend emulates it, so reduced precision under XLA is slower than float32).
    hidden_layer : str, optional
        Also sum the activations of this layer (e.g. ``"dense_hidden"``, the last hidden layer; if the model has no
        layer of that name, its last Dense layer before the output) over the samples: :meth:`run_with_hidden`.
    """

    mask_cache_bytes = 256 << 20
    """Largest total size of the cached dropout masks of one seed [bytes] (T = 100 of the paper's network: 120 MB
    in float32, 60 MB in bfloat16)."""

    def __init__(
        self,
        model: Any,
        *,
        windows_per_call: int = 32,
        samples_per_call: int = 32,
        shared_masks: bool = True,
        precision: str = "float32",
        jit: bool | None = None,
        hidden_layer: str | None = None,
    ) -> None:
        import keras

        self.keras_model = getattr(model, "keras_model", model)
        precision = resolve_precision(precision)
        self.precision = precision
        compute_model = self.keras_model if precision == "float32" else reduced_precision_copy(self.keras_model, precision)
        self._fns: dict[tuple[int, bool], Callable[..., Any]] = {}
        self.jit = (keras.backend.backend() == "jax") if jit is None else bool(jit)
        self.windows_per_call = int(windows_per_call)
        self.shared_masks = bool(shared_masks)
        self.samples_per_call = int(samples_per_call)
        if self.windows_per_call < 1 or self.samples_per_call < 1:
            raise ValueError("windows_per_call and samples_per_call must be ≥ 1")
        layers = list(compute_model.layers)
        first = next((i for i, la in enumerate(layers) if isinstance(la, keras.layers.Dropout)), len(layers))
        self._head = layers[:first]
        self._tail = layers[first:]
        self._hidden = None if hidden_layer is None else layers[_hidden_index(layers, hidden_layer)]
        self.hidden_units = 0 if self._hidden is None else int(self._hidden.units)
        self.n_classes = int(self.keras_model.output_shape[-1])
        self.input_size = int(self.keras_model.input_shape[1])
        self._seed_gen = keras.random.SeedGenerator(0)
        self._seed = 0
        self._calls = 0
        self.layout = self._mask_layout()
        self._mask_cache: dict[tuple[int, int], tuple[Any, ...]] = {}
        self._mask_cache_used = 0
        self._warm: set[tuple[int, bool, int]] = set()  # (samples, moments, windows) shapes already compiled

    def _mask_layout(self) -> MaskLayout:
        """Shapes and rates of the dropout layers, from one eager pass of an empty window."""
        import keras
        from keras import ops

        x = ops.zeros((1, self.input_size, self.input_size, 1))
        shapes, rates = [], []
        for layer in [*self._head, *self._tail]:
            if isinstance(layer, keras.layers.Dropout):
                if float(layer.rate) > 0:
                    shapes.append(tuple(int(v) for v in x.shape[1:]))
                    rates.append(float(layer.rate))
            else:
                x = layer(x)
        return MaskLayout(tuple(shapes), tuple(rates))

    def masks(self, start: int, count: int) -> tuple[Any, ...]:
        """Dropout masks of samples ``start`` … ``start + count − 1`` for the current seed, as backend tensors.

        One tensor of shape (count, *shape) per dropout layer, in the compute dtype: the keep-mask
        (:func:`aistem.core.masks.dropout_masks`) times 1/(1 − rate), so that applying it is one multiply.
        Cached for the seed up to :attr:`mask_cache_bytes`.
        """
        from keras import ops

        key = (start, count)
        hit = self._mask_cache.get(key)
        if hit is not None:
            return hit
        keep = dropout_masks(self._seed, start, count, self.layout)
        out = tuple(
            ops.cast(ops.convert_to_tensor(np.where(k, np.float32(1.0 / (1.0 - r)), np.float32(0.0))), self.precision)
            for k, r in zip(keep, self.layout.rates, strict=True)
        )
        size = count * self.layout.elements * (4 if self.precision == "float32" else 2)
        if self._mask_cache_used + size <= self.mask_cache_bytes:
            self._mask_cache[key] = out
            self._mask_cache_used += size
        return out

    # -- the forward pass --------------------------------------------------
    def _forward(self, x: Any, s: int, keys: Any = None, moments: bool = False) -> tuple[Any, ...]:
        """Sufficient statistics of ``s`` MC samples for each of the B windows in ``x``.

        Returns Σp (B, C), Σh (B,), votes (B, C); with ``moments`` also Σppᵀ (B, C, C), Σh² (B,), Σhp (B, C);
        with ``hidden_layer`` last the sum of its activations (B, units).
        """
        from keras import ops

        p, hid = self._forward_samples(x, s, keys)
        ent = -ops.sum(p * ops.log2(ops.maximum(p, 1e-30)), axis=-1)
        votes = ops.sum(ops.one_hot(ops.argmax(p, axis=-1), self.n_classes, dtype="int32"), axis=1)
        out: tuple[Any, ...] = (ops.sum(p, axis=1), ops.sum(ent, axis=1), votes)
        if moments:
            out += (
                ops.einsum("bsc,bsd->bcd", p, p),
                ops.sum(ent * ent, axis=1),
                ops.einsum("bs,bsc->bc", ent, p),
            )
        if hid is not None:  # Σ hidden activations (B, units), last
            out += (ops.sum(ops.reshape(ops.cast(hid, "float32"), (ops.shape(p)[0], s, -1)), axis=1),)
        return out

    @staticmethod
    def _apply_masks(x: Any, keep: Any, rate: float, s: int) -> Any:
        """Inverted dropout with shared masks: ``x`` holds B windows × ``s`` samples (window-major), ``keep`` is
        (s, …), already scaled by 1/(1 − rate) (:meth:`masks`): the t-th sample of every window is multiplied by
        ``keep[t]``.  ``rate`` is not used (kept for the signature of :meth:`_dropout`).

        With ``shared_masks`` (the default) the masks are keyed by the sample index (:mod:`aistem.core.masks`):
        the t-th sample of every window uses the same masks, whichever call, block of windows or adaptive stage
        draws it.  Each window still sees T independent Bernoulli masks, so its MC samples — and its predictive
        mean and mutual information — have exactly the law of MC dropout; only different windows share masks
        (their estimation errors are correlated, which no per-window quantity depends on).  That makes an
        adaptive run a prefix of the fixed run with the same seed: windows sampled to T get exactly the fixed
        result, and only the stopping rule can make the two differ.
        """
        from keras import ops

        xs = ops.reshape(x, (-1, s, *x.shape[1:]))
        return ops.reshape(xs * ops.cast(keep, xs.dtype)[None], ops.shape(x))

    def _dropout(self, x: Any, rate: float, seed: Any, k: int) -> Any:
        """Inverted dropout with a mask per element of ``x`` (per window and sample: the straightforward version).

        On TensorFlow the mask comes from 16 random bits per element (two
        elements per 32-bit Philox draw, bit-cast), compared with
        ``round(rate * 65536)``: the rate is honoured to 1/65536.  Other
        backends draw floats with ``keras.random``.
        """
        import keras
        from keras import ops

        scale = 1.0 / (1.0 - rate)
        if seed is not None:
            import tensorflow as tf

            shape = tf.shape(x)
            level = tf.constant(round(rate * 65536), tf.uint16)

            def draw(key: Any, mask_shape: Any) -> Any:
                n = tf.reduce_prod(mask_shape)
                bits = tf.random.stateless_uniform(
                    [(n + 1) // 2],
                    tf.random.experimental.stateless_fold_in(key, k),
                    minval=None,
                    maxval=None,
                    dtype=tf.uint32,
                    alg="philox",
                )
                r16 = tf.reshape(tf.bitcast(bits, tf.uint16), [-1])[:n]
                return tf.reshape(r16, mask_shape) >= level

            keep = draw(seed, shape)
            return tf.where(keep, x * scale, tf.zeros_like(x))
        keep = keras.random.uniform(ops.shape(x), seed=self._seed_gen) >= rate
        return ops.where(keep, x * scale, ops.zeros_like(x))

    def _forward_samples(self, x: Any, s: int, keys: Any = None) -> tuple[Any, Any]:
        """Per-sample probabilities, shape (B, s, C), and the hidden layer's activations (B·s, units) or None.

        ``keys``: the tuple of shared masks (:meth:`masks`) or, without shared masks, the call's seed tensor.
        """
        import keras
        from keras import ops

        hid = None
        for layer in self._head:
            x = layer(x)
            if layer is self._hidden:
                hid = x
        b = ops.shape(x)[0]
        x = ops.repeat(x, s, axis=0)
        hid = None if hid is None else ops.repeat(hid, s, axis=0)
        k = 0
        for layer in self._tail:
            if isinstance(layer, keras.layers.Dropout):
                if float(layer.rate) > 0:
                    if self.shared_masks:
                        x = self._apply_masks(x, keys[k], float(layer.rate), s)
                    else:
                        x = self._dropout(x, float(layer.rate), keys, k)
                    k += 1
            else:
                x = layer(x)
                if layer is self._hidden:
                    hid = x
        return ops.reshape(ops.cast(x, "float32"), (b, s, self.n_classes)), hid

    def sample_probabilities(self, descriptors: Any, samples: int, *, seed: int | None = None) -> np.ndarray:
        """Every MC sample's class probabilities, ndarray of shape (N, T, C), float32.

        Memory grows with T; :meth:`run` is the bounded-memory path used for analysis.
        """
        from keras import ops

        self.reseed(seed)
        d = asnumpy(descriptors).astype(np.float32, copy=False)
        out = np.empty((d.shape[0], samples, self.n_classes), np.float32)
        bw = self.windows_per_call
        for start in range(0, d.shape[0], bw):
            block = d[start : start + bw]
            done = 0
            while done < samples:
                s = min(self.samples_per_call, samples - done)
                p, _ = self._forward_samples(ops.convert_to_tensor(block[..., None]), s, self._keys(done, s))
                out[start : start + len(block), done : done + s] = ops.convert_to_numpy(p)
                done += s
        return out

    def _compiled(self, s: int, moments: bool = False) -> Callable[..., Any]:
        fn = self._fns.get((s, moments))
        if fn is not None:
            return fn
        import keras

        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            tf.get_logger().setLevel("ERROR")  # one trace per (samples, moments) shape is expected, not a problem
            fn = tf.function(lambda x, keys: self._forward(x, s, keys, moments), jit_compile=self.jit)
        elif backend == "torch":
            import torch

            def fn(x: Any, keys: Any) -> Any:
                with torch.no_grad():
                    return self._forward(x, s, keys, moments)

        elif backend == "jax" and self.jit:  # the masks are inputs, so the whole sampler is one pure function
            import jax

            fn = jax.jit(lambda x, keys: self._forward(x, s, keys, moments))
        else:  # numpy, or jax with jit=False: eager (correct, slower)
            fn = lambda x, keys: self._forward(x, s, keys, moments)  # noqa: E731
        self._fns[(s, moments)] = fn
        return fn

    def call_shapes(self, samples: int, adaptive: AdaptiveSettings | None = None) -> list[tuple[int, bool]]:
        """The compiled-call shapes, (samples per call, moments), of :meth:`run` (``adaptive`` None) or
        :meth:`run_adaptive` with T = ``samples``, in the order a run first needs them.

        The window axis of every call is :attr:`windows_per_call` (short blocks are padded), so these are all the
        shapes a run of any image can compile; an adaptive run needs a later stage's shapes only if some window
        is still unsettled by then.
        """
        if samples < 1:
            raise ValueError(f"samples must be ≥ 1, got {samples}")
        out: list[tuple[int, bool]] = []

        def add(s: int, moments: bool) -> None:
            for done in range(0, s, self.samples_per_call):
                shape = (min(self.samples_per_call, s - done), moments)
                if shape not in out:
                    out.append(shape)

        if adaptive is None:
            add(samples, False)
        else:
            before = 0
            for target in stage_schedule(samples, adaptive.initial):
                add(target - before, True)
                before = target
        return out

    def warm_up(self, samples: int, adaptive: AdaptiveSettings | None = None, *, stop: Callable[[], bool] | None = None) -> int:
        """Compile the call shapes of a run with T = ``samples`` (:meth:`call_shapes`) ahead of the first image.

        Each shape is traced (and compiled) by one call on empty windows; ``stop`` is asked before each one, so a
        caller with real work waiting gets the CPU/GPU back within one compilation. Returns the number of shapes
        compiled by this call (those compiled before are skipped).
        """
        x = None
        compiled = 0
        for step, moments in self.call_shapes(samples, adaptive):
            key = (step, moments, self.windows_per_call)
            if key in self._warm:
                continue
            if stop is not None and stop():
                break
            if x is None:
                x = to_tensor(np.zeros((self.windows_per_call, self.input_size, self.input_size, 1), np.float32))
            self._call(step, moments, x, self._keys(0, step))
            self._warm.add(key)
            compiled += 1
        return compiled

    def reseed(self, seed: int | None) -> None:
        """Reset the dropout random stream (None: a fresh random seed)."""
        if seed is None:
            seed = secrets.randbits(31)
        seed = int(seed) & 0x7FFFFFFF
        if seed != self._seed:
            self._mask_cache.clear()
            self._mask_cache_used = 0
        self._seed = seed
        self._calls = 0
        state = self._seed_gen.state
        state.assign(np.asarray([self._seed, 0], dtype=state.dtype))

    def _next_seed(self) -> Any:
        """Per-call key of the per-window masks (``shared_masks=False``): (seed, call counter)."""
        self._calls += 1
        return np.asarray([self._seed, self._calls], dtype=np.int32)

    def _keys(self, offset: int, s: int) -> Any:
        """What a call over samples ``offset`` … ``offset + s − 1`` needs: the shared masks, or a seed tensor."""
        import keras
        from keras import ops

        if self.shared_masks:
            return self.masks(offset, s)
        if keras.backend.backend() != "tensorflow":  # other backends draw per-window masks with keras.random
            return None
        return ops.convert_to_tensor(self._next_seed())

    def _call(self, s: int, moments: bool, x: Any, keys: Any) -> list[Any]:
        """One compiled call; if XLA cannot compile the sampler, warn once and continue without it."""
        try:
            return list(self._compiled(s, moments)(x, keys))
        except Exception as exc:
            if not self.jit or not is_xla_failure(exc):
                raise
            import warnings

            warnings.warn(
                f"XLA could not compile the MC-dropout sampler, running without it: {exc}", RuntimeWarning, stacklevel=2
            )
            self.jit = False
            self._fns.clear()
            self._warm.clear()
            return list(self._compiled(s, moments)(x, keys))

    def run(
        self,
        descriptors: Any,
        samples: int = 100,
        *,
        seed: int | None = None,
        progress: Callable[[int], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> MCStats:
        """Draw ``samples`` MC-dropout predictions for every descriptor.

        Parameters
        ----------
        descriptors : ndarray of shape (N, size, size)
            FFT-HAADF descriptors (NumPy or CuPy), float32.
        samples : int
            T, the number of Monte-Carlo samples per window.
        seed : int, optional
            Seed of the dropout masks, for reproducible results.
        progress : callable, optional
            Called with the number of windows finished after each block of windows.
        cancel : callable, optional
            Called with no argument after every network call; True stops the sampling with
            :class:`AnalysisCancelled` (a caller that no longer needs the result gives the CPU/GPU back within
            one call: ``windows_per_call`` × ≤ ``samples_per_call`` networks).
        """
        return self._run_fixed(descriptors, samples, seed, progress, cancel)[0]

    def run_with_hidden(self, descriptors: Any, samples: int = 100, **options: Any) -> tuple[MCStats, np.ndarray]:
        """:meth:`run` (same ``options``: ``seed``, ``progress``, ``cancel``), and the mean over the samples of the
        ``hidden_layer``'s activations, (N, units) float32.

        The same MC samples give both (one pass of the network).
        """
        if self._hidden is None:
            raise ValueError("this sampler was made without hidden_layer: no hidden activations to return")
        o = {"seed": None, "progress": None, "cancel": None, **options}
        if len(o) > 3:
            raise TypeError(f"unknown option(s): {', '.join(sorted(set(o) - {'seed', 'progress', 'cancel'}))}")
        stats, hidden_sum = self._run_fixed(descriptors, samples, o["seed"], o["progress"], o["cancel"])
        assert hidden_sum is not None  # made with hidden_layer: _run_blocks returns the hidden sums last
        return stats, np.asarray(hidden_sum / samples, np.float32)

    def _run_fixed(
        self, descriptors: Any, samples: int, seed: int | None, progress: Any, cancel: Any
    ) -> tuple[MCStats, np.ndarray | None]:
        if samples < 1:
            raise ValueError(f"samples must be ≥ 1, got {samples}")
        self._check(descriptors)
        self.reseed(seed)
        n = int(descriptors.shape[0])
        ps, es, vs, *hid = self._run_blocks(descriptors, np.arange(n), samples, moments=False, progress=progress, cancel=cancel)
        stats = MCStats(ps.astype(np.float32), es.astype(np.float32), vs.astype(np.int32), np.full(n, samples, np.int32))
        return stats, (hid[0] if hid else None)

    def run_range(
        self, descriptors: Any, first_sample: int, samples: int, *, seed: int | None = None, cancel: Any = None
    ) -> MCStats:
        """Samples ``first_sample`` … ``+ samples − 1`` only (float64 sums), continuing a run: masks keyed by sample index."""
        if samples < 1 or first_sample < 0:
            raise ValueError(f"need samples ≥ 1 and first_sample ≥ 0, got {samples}, {first_sample}")
        self._check(descriptors)
        self.reseed(seed)
        n = int(descriptors.shape[0])
        ps, es, vs, *_ = self._run_blocks(descriptors, np.arange(n), samples, moments=True, cancel=cancel, offset=first_sample)
        return MCStats(ps, es, vs.astype(np.int32), np.full(n, samples, np.int32))

    def run_adaptive(
        self,
        descriptors: Any,
        samples: int = 100,
        *,
        grid_shape: tuple[int, int] | None = None,
        settings: AdaptiveSettings | None = None,
        threshold: float = 0.1,
        seed: int | None = None,
        progress: Callable[[int], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> MCStats:
        """Adaptive MC sampling: stop windows whose class and interface decision are settled.

        Every window gets ``settings.initial`` samples, then the unsettled ones
        (see :func:`aistem.core.adaptive.settled`; with ``grid_shape``, also
        their grid neighbours) get 2×, 4×, … up to ``samples`` (T).

        Returns
        -------
        MCStats
            With ``samples`` holding the number drawn for each window.
        """
        from scipy.ndimage import binary_dilation

        settings = settings or AdaptiveSettings()
        if samples < 1:
            raise ValueError(f"samples must be ≥ 1, got {samples}")
        self._check(descriptors)
        self.reseed(seed)
        n = int(descriptors.shape[0])
        mom = MomentStats.zeros(n, self.n_classes)
        active = np.arange(n)
        done_so_far = 0
        for target in stage_schedule(samples, settings.initial):
            s = target - done_so_far
            parts = self._run_blocks(descriptors, active, s, moments=True, cancel=cancel, offset=done_so_far)
            mom.n[active] += s
            mom.p[active] += parts[0]
            mom.h[active] += parts[1]
            mom.votes[active] += parts[2]
            mom.pp[active] += parts[3]
            mom.hh[active] += parts[4]
            mom.hp[active] += parts[5]
            done_so_far = target
            if target >= samples:
                break
            sub = MomentStats(*(getattr(mom, f)[active] for f in ("n", "p", "pp", "h", "hh", "hp", "votes")))
            unsettled = np.zeros(n, bool)
            unsettled[active[~settled(sub, samples, threshold, settings)]] = True
            if grid_shape is not None and settings.neighbours > 0 and unsettled.any():
                grid = binary_dilation(unsettled.reshape(grid_shape), iterations=settings.neighbours)
                keep = np.zeros(n, bool)
                keep[active] = True
                unsettled = grid.ravel() & keep
            active = np.flatnonzero(unsettled)
            if progress is not None:
                progress(n - len(active))
            if len(active) == 0:
                break
        if progress is not None:
            progress(n)
        return MCStats(mom.p.astype(np.float32), mom.h.astype(np.float32), mom.votes, mom.n.copy())

    def _check(self, d: Any) -> None:
        if d.ndim != 3 or d.shape[1] != self.input_size or d.shape[2] != self.input_size:
            raise ValueError(f"descriptors must have shape (N, {self.input_size}, {self.input_size}), got {tuple(d.shape)}")

    def _run_blocks(
        self,
        descriptors: Any,
        index: np.ndarray,
        s: int,
        *,
        moments: bool,
        progress: Callable[[int], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        offset: int = 0,
    ) -> list[np.ndarray]:
        """Sums over samples ``offset`` … ``offset + s − 1`` for the windows ``index``, in compiled blocks of windows
        and samples."""
        from keras import ops

        bw = self.windows_per_call
        sums: list[np.ndarray] | None = None
        for start in range(0, len(index), bw):
            idx = index[start : start + bw]
            # CuPy descriptors stay on the GPU (DLPack hand-off); a DescriptorStream says its module
            xp = getattr(descriptors, "xp", None) or get_array_module(descriptors)
            block = descriptors[xp.asarray(idx)].astype(xp.float32, copy=False)
            k = len(idx)
            if k < bw:
                block = xp.concatenate([block, xp.zeros((bw - k, *block.shape[1:]), xp.float32)])
            x = to_tensor(block[..., None])
            done = 0
            while done < s:
                step = min(self.samples_per_call, s - done)
                outs = [
                    np.asarray(ops.convert_to_numpy(o))[:k] for o in self._call(step, moments, x, self._keys(offset + done, step))
                ]
                self._warm.add((step, moments, bw))
                if sums is None:
                    sums = [np.zeros((len(index), *o.shape[1:]), np.float64 if o.dtype.kind == "f" else o.dtype) for o in outs]
                for acc, o in zip(sums, outs, strict=True):
                    acc[start : start + k] += o
                done += step
                if cancel is not None and cancel():
                    raise AnalysisCancelled("MC-dropout sampling cancelled by the caller")
            if progress is not None:
                progress(start + k)
        if sums is None:  # no windows
            c = self.n_classes
            sums = [np.zeros((0, c)), np.zeros(0), np.zeros((0, c), np.int32)]
            if moments:
                sums += [np.zeros((0, c, c)), np.zeros(0), np.zeros((0, c))]
            if self._hidden is not None:
                sums.append(np.zeros((0, self.hidden_units)))
        return sums


def _hidden_index(layers: list[Any], name: str) -> int:
    """Index of the layer ``name``, or else of the last Dense layer before the output."""
    import keras

    names = [la.name for la in layers]
    if name in names:
        return names.index(name)
    dense = [i for i, la in enumerate(layers) if isinstance(la, keras.layers.Dense)]
    if len(dense) < 2:
        raise ValueError(f"the model has no layer {name!r} and no hidden Dense layer before its output")
    return dense[-2]
