"""Batched Monte-Carlo-dropout inference.

One compiled function evaluates a block of windows × a block of samples per
call: the layers before the first dropout run once per window, the rest on the
windows repeated S times with fresh dropout masks; the function returns only
the sufficient statistics (:class:`~aistem.core.uncertainty.MCStats`), so memory
is bounded by the block size whatever T is.  Dropout is applied explicitly for
every ``Dropout`` layer of the model, so a model loaded without its "always-on"
flag still samples.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import numpy as np

from .backend import asnumpy
from .uncertainty import MCStats

__all__ = ["MCDropoutPredictor"]


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
    """

    def __init__(self, model: Any, *, windows_per_call: int = 32, samples_per_call: int = 32) -> None:
        import keras

        self.keras_model = getattr(model, "keras_model", model)
        self.windows_per_call = int(windows_per_call)
        self.samples_per_call = int(samples_per_call)
        if self.windows_per_call < 1 or self.samples_per_call < 1:
            raise ValueError("windows_per_call and samples_per_call must be ≥ 1")
        layers = list(self.keras_model.layers)
        first = next((i for i, la in enumerate(layers) if isinstance(la, keras.layers.Dropout)), len(layers))
        self._head = layers[:first]
        self._tail = layers[first:]
        self.n_classes = int(self.keras_model.output_shape[-1])
        self.input_size = int(self.keras_model.input_shape[1])
        self._seed_gen = keras.random.SeedGenerator(0)
        self._fns: dict[int, Callable[..., Any]] = {}

    # -- the forward pass --------------------------------------------------
    def _forward(self, x: Any, s: int, seed: Any = None) -> tuple[Any, Any, Any]:
        import keras
        from keras import ops

        for layer in self._head:
            x = layer(x)
        b = ops.shape(x)[0]
        x = ops.repeat(x, s, axis=0)  # (B*S, ...): window-major
        k = 0
        for layer in self._tail:
            if isinstance(layer, keras.layers.Dropout):
                rate = float(layer.rate)
                if rate > 0:
                    x = self._dropout(x, rate, seed, k)
                    k += 1
            else:
                x = layer(x)
        p = ops.reshape(ops.cast(x, "float32"), (b, s, self.n_classes))
        ent = -ops.sum(p * ops.log2(ops.maximum(p, 1e-30)), axis=-1)
        votes = ops.sum(ops.one_hot(ops.argmax(p, axis=-1), self.n_classes, dtype="int32"), axis=1)
        return ops.sum(p, axis=1), ops.sum(ent, axis=1), votes

    def _dropout(self, x: Any, rate: float, seed: Any, k: int) -> Any:
        """Inverted dropout with an independent Bernoulli(1 - rate) keep mask per element.

        On TensorFlow the mask comes from 16 random bits per element (two
        elements per 32-bit Philox draw, bit-cast), compared with
        ``round(rate * 65536)``: the rate is honoured to 1/65536, at a third
        of the cost of drawing a float per element.  Other backends draw
        floats with ``keras.random``.
        """
        import keras
        from keras import ops

        if seed is not None:
            import tensorflow as tf

            shape = tf.shape(x)
            n = tf.reduce_prod(shape)
            bits = tf.random.stateless_uniform(
                [(n + 1) // 2], tf.random.experimental.stateless_fold_in(seed, k), minval=None, maxval=None, dtype=tf.uint32
            )
            r16 = tf.reshape(tf.bitcast(bits, tf.uint16), [-1])[:n]
            keep = tf.reshape(r16, shape) >= tf.constant(round(rate * 65536), tf.uint16)
        else:
            keep = keras.random.uniform(ops.shape(x), seed=self._seed_gen) >= rate
        return ops.where(keep, x * (1.0 / (1.0 - rate)), ops.zeros_like(x))

    def _compiled(self, s: int) -> Callable[..., Any]:
        fn = self._fns.get(s)
        if fn is not None:
            return fn
        import keras

        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            fn = tf.function(lambda x, seed: self._forward(x, s, seed), reduce_retracing=True)
        elif backend == "torch":
            import torch

            def fn(x: Any, seed: Any) -> Any:
                with torch.no_grad():
                    return self._forward(x, s)

        else:  # jax / numpy: eager (correct, slower); the GPU path may jit it
            fn = lambda x, seed: self._forward(x, s)  # noqa: E731
        self._fns[s] = fn
        return fn

    def reseed(self, seed: int | None) -> None:
        """Reset the dropout random stream (None: a fresh random seed)."""
        if seed is None:
            seed = secrets.randbits(31)
        self._seed = int(seed) & 0x7FFFFFFF
        self._calls = 0
        state = self._seed_gen.state
        state.assign(np.asarray([self._seed, 0], dtype=state.dtype))

    def _next_seed(self) -> Any:
        """Per-call seed for the stateless TensorFlow path: (seed, call counter)."""
        self._calls += 1
        return np.asarray([self._seed, self._calls], dtype=np.int32)

    def run(
        self,
        descriptors: Any,
        samples: int = 100,
        *,
        seed: int | None = None,
        progress: Callable[[int], None] | None = None,
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
        """
        from keras import ops

        if samples < 1:
            raise ValueError(f"samples must be ≥ 1, got {samples}")
        d = descriptors
        if d.ndim != 3 or d.shape[1] != self.input_size or d.shape[2] != self.input_size:
            raise ValueError(f"descriptors must have shape (N, {self.input_size}, {self.input_size}), got {tuple(d.shape)}")
        self.reseed(seed)
        n = int(d.shape[0])
        c = self.n_classes
        prob_sum = np.zeros((n, c), np.float32)
        ent_sum = np.zeros(n, np.float32)
        votes = np.zeros((n, c), np.int32)
        bw = self.windows_per_call
        for start in range(0, n, bw):
            stop = min(n, start + bw)
            block = asnumpy(d[start:stop]).astype(np.float32, copy=False)
            if stop - start < bw:  # pad: one compiled shape for every call
                block = np.concatenate([block, np.zeros((bw - (stop - start), *block.shape[1:]), np.float32)])
            x = ops.convert_to_tensor(block[..., None])
            done = 0
            while done < samples:
                s = min(self.samples_per_call, samples - done)
                ps, es, vs = self._compiled(s)(x, self._next_seed())
                k = stop - start
                prob_sum[start:stop] += asnumpy(ops.convert_to_numpy(ps))[:k]
                ent_sum[start:stop] += asnumpy(ops.convert_to_numpy(es))[:k]
                votes[start:stop] += asnumpy(ops.convert_to_numpy(vs))[:k]
                done += s
            if progress is not None:
                progress(stop)
        return MCStats(prob_sum, ent_sum, votes, np.full(n, samples, np.int32))
