"""Run the paper's own code (``ai4stem.utils.utils_prediction.predict``) on one image, for timing from outside.

The paper's code is not part of this project: give a checkout of https://github.com/AndreasLeitherer/ai4stem with
``--paper-code DIR`` (it also needs ``opencv-python-headless``, which its descriptor uses; put it on PYTHONPATH or
in the environment). Its code is run unchanged. Two shims stand in for what Keras 3 no longer has, so that its
Keras-2 calls do what they did there:

* ``model.predict`` runs with dropout on. The paper's model was built with ``Dropout(...)(x, training=True)``,
  which Keras 3 drops on loading the ``.h5``; without the shim every MC sample would be the same, and cheaper.
* ``model.layers[0].get_input_at(0).get_shape().as_list()``, used by ``reshape_data_to_input_size``, returns the
  input shape.

Writes the class map and MI map to ``--out`` (.npz) so they can be compared with ``aistem analyze``.

Run: .venv/bin/python benchmarks/run_paper_code.py --paper-code DIR IMAGE.npy --samples 30 --out paper.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "ai4stem_optimal_model.h5"


class _Shape:
    def __init__(self, shape: tuple[int | None, ...]) -> None:
        self._shape = shape

    def get_shape(self) -> _Shape:
        return self

    def as_list(self) -> list[int | None]:
        return list(self._shape)


class _InputLayer:
    def __init__(self, shape: tuple[int | None, ...]) -> None:
        self._shape = shape

    def get_input_at(self, index: int) -> _Shape:
        return _Shape(self._shape)


class PaperModel:
    """The paper's network as its code calls it: Keras' ``predict`` (batch 32, compiled) with dropout on."""

    def __init__(self, keras_model: Any) -> None:
        import keras

        class DropoutOn(keras.Model):  # type: ignore[misc]
            def __init__(self, inner: Any) -> None:
                super().__init__(name="paper_model_dropout_on")
                self.inner = inner

            def call(self, x: Any, training: Any = None) -> Any:
                return self.inner(x, training=True)

        self._model = DropoutOn(keras_model)
        self.layers = [_InputLayer(tuple(keras_model.input_shape))]

    def predict(self, data: np.ndarray, verbose: int = 0) -> np.ndarray:
        return np.asarray(self._model.predict(data, verbose=verbose))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("image", help=".npy image")
    ap.add_argument("--paper-code", required=True, help="checkout of the paper's repository (holds ai4stem/)")
    ap.add_argument("--model", default=str(REFERENCE))
    ap.add_argument("--samples", type=int, default=30, help="T")
    ap.add_argument("--window-px", type=int, default=96)
    ap.add_argument("--stride-px", type=int, default=12)
    ap.add_argument("--out", required=True, help="write classes and MI (.npz)")
    args = ap.parse_args()
    if not (Path(args.paper_code) / "ai4stem" / "utils" / "utils_prediction.py").is_file():
        ap.error(f"--paper-code: {args.paper_code} holds no ai4stem/utils/utils_prediction.py")
    if not Path(args.image).is_file() or not args.image.endswith(".npy"):
        ap.error(f"image: no such .npy file: {args.image}")
    if not Path(args.model).is_file():
        ap.error(f"--model: no such file: {args.model}")
    sys.path.insert(0, str(Path(args.paper_code).resolve()))
    try:
        from ai4stem.utils.utils_prediction import predict  # the paper's code, unchanged
    except ModuleNotFoundError as exc:
        if exc.name == "cv2":
            ap.error("the paper's code needs OpenCV: pip install --target DIR opencv-python-headless, then put DIR on PYTHONPATH")
        raise

    from aistem.core import load_model  # reads the paper's .h5 into Keras 3 (the paper's loader is Keras 2's)

    model = PaperModel(load_model(args.model).keras_model)
    image = np.load(args.image)
    _, _, prediction, mi = predict(
        image, model=model, n_iter=args.samples, stride_size=[args.stride_px, args.stride_px], window_size=args.window_px
    )
    np.savez(args.out, classes=prediction.argmax(-1).astype(np.uint8), mutual_information=mi.astype(np.float32))


if __name__ == "__main__":
    main()
