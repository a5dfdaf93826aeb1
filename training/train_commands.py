"""``aistem train`` (fit one model; ``search``: hyperopt TPE; ``select``: the paper's model selection) and ``aistem evaluate``.

Defaults come from ``config/train.toml`` (paper-sized); every option overrides
its key, and ``--config FILE`` replaces the keys it sets.  Heavy imports
(TensorFlow/Keras, hyperopt, scikit-learn) happen inside the handlers.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from aistem.config import load_config

__all__ = ["load_train_config", "register_evaluate", "register_train"]


def load_train_config(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``config/train.toml``, with the keys set in ``path`` replaced (:func:`aistem.config.load_config`).

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file, invalid TOML, or a table or key that does not exist.
    """
    return load_config(path, name="train")


def _pick(args: argparse.Namespace, name: str, table: dict[str, Any], key: str | None = None) -> Any:
    v = getattr(args, name, None)
    return table[key or name] if v is None else v


def _subset(v: float) -> float | int | None:
    if v is None or v == 0:
        return None
    if v < 0:
        raise ValueError(f"--subset must be a positive fraction (< 1) or count, got {v}")
    return float(v) if v < 1 else int(v)


def _minutes(v: float) -> float | None:
    return None if v is None or v == 0 else float(v)


def _train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, help="maximum epochs (early stopping may end sooner; default 50)")
    p.add_argument("--batch-size", type=int, help="descriptors per gradient step (default 64)")
    p.add_argument("--learning-rate", type=float, help="Adam step size (default 0.001)")
    p.add_argument("--patience", type=int, help="early stopping: epochs without a lower validation loss (default 5)")
    p.add_argument(
        "--subset", type=float, help="train on a stratified subset: a fraction < 1 or a number of descriptors (default: all)"
    )
    p.add_argument(
        "--max-minutes", type=float, help="time budget per training [min]: stop after the last epoch that fits (default: none)"
    )
    p.add_argument("--config", help="TOML file overriding config/train.toml")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress lines")


# ---------------------------------------------------------------- train
#: The subcommands of ``aistem train``, as listed in its help and in the message of a bare ``aistem train``.
TRAIN_SUBCOMMANDS = ("search", "select", "calibrate")


def register_train(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``train`` (and its ``search``, ``select`` and ``calibrate`` subcommands)."""
    p = sub.add_parser(
        "train",
        help="train the Bayesian CNN on a simulated descriptor set (also: "
        + ", ".join(f"train {c}" for c in TRAIN_SUBCOMMANDS)
        + ")",
        description="Train the paper's Bayesian CNN on descriptors from `aistem simulate`: stratified 80/20 split "
        "(random_state=42), Adam, categorical cross-entropy, checkpoint of the best validation accuracy, early "
        "stopping; writes MODEL.keras with its metadata and MODEL.training-log.csv/.png beside it. "
        "`aistem train search` runs the hyperopt TPE search; `aistem train select` picks the model as the paper did; "
        "`aistem train calibrate` temperature-scales a trained model.",
    )
    p.add_argument("--data", help="descriptor set (HDF5 from `aistem simulate`)")
    p.add_argument("--out", help="model file to write (.keras)")
    p.add_argument("--kernel-size", type=int, help="conv kernel side [px] (default 3)")
    p.add_argument("--dropout", type=float, help="dropout rate in [0, 1) (default 0.07)")
    p.add_argument("--seed", type=int, help="seed of the initial weights, shuffling and dropout masks (default 0)")
    p.add_argument("--init", help="start from this model's weights (.keras, same architecture): continue a training")
    p.add_argument(
        "--kernel-init",
        choices=("orthogonal", "glorot_uniform"),
        help="initialiser of the conv kernels (default orthogonal, as the paper's model)",
    )
    p.add_argument(
        "--keep-epochs", action="store_true", help="also save every epoch's model as OUT.epochNN.keras (selection candidates)"
    )
    _train_options(p)
    p.set_defaults(func=run_train, train_parser=p)
    tsub = p.add_subparsers(dest="train_command", metavar="{" + ",".join(TRAIN_SUBCOMMANDS) + "}")
    _register_search(tsub)
    _register_select(tsub)
    _register_calibrate(tsub)


def _register_search(tsub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    s = tsub.add_parser(
        "search",
        help="hyperopt TPE search over kernel size and dropout (resumable)",
        description="Hyperopt TPE over kernel size {3,5,7} and dropout 0.02–0.10 (step 0.01), architecture fixed, "
        "minimising the validation loss. Trials are saved to OUT_DIR/trials.pkl after each one: rerun the same "
        "command to resume. Each trial's model is kept as OUT_DIR/candidates/k<K>-d<D>.keras.",
    )
    s.add_argument("--data", required=True, help="descriptor set (HDF5 from `aistem simulate`)")
    s.add_argument("--out-dir", required=True, help="search folder (trials, candidate models)")
    s.add_argument("--max-evals", type=int, help="number of trials in all, resumed ones included (default 30)")
    s.add_argument("--seed", type=int, help="seed of the TPE sampler (default 42)")
    s.add_argument(
        "--scheduler", metavar="ADDRESS", help="run trials on this Dask cluster, e.g. tcp://10.0.0.5:8786 (docs/scaling.md)"
    )
    s.add_argument("--workers", type=int, metavar="N", help="run up to N trials at once on a local Dask cluster of N processes")
    s.add_argument("--parallel", type=int, metavar="N", help="trials at once on the cluster (default: its number of workers)")
    _train_options(s)
    s.set_defaults(func=run_search_cmd)


def _register_select(tsub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    c = tsub.add_parser(
        "select",
        help="pick the candidate with the highest median MI in the polycrystal's amorphous region",
        description="Model selection as in the paper: among candidates with validation accuracy ≥ 99.5 %, take the "
        "one with the highest median mutual information [bit] over the amorphous windows of the polycrystal scene.",
    )
    c.add_argument("candidates", nargs="+", help="candidate .keras files, or folders (e.g. a search's OUT_DIR)")
    c.add_argument("--out", help="copy the chosen model to this .keras file")
    c.add_argument("--min-val-accuracy", type=float, help="validation accuracy a candidate needs, as a fraction (default 0.995)")
    c.add_argument(
        "--min-mi-auc",
        type=float,
        help="also require this MI ROC AUC (boundary-or-amorphous vs bulk windows of the scene), e.g. 0.95; "
        "default 0: the paper's rule",
    )
    c.add_argument("--samples", type=int, help="MC-dropout samples per window, T (default 100)")
    c.add_argument("--stride", type=float, help="window step on the scene [Å] (default 1.0)")
    c.add_argument("--seed", type=int, help="seed of the scene and the dropout masks (default 0)")
    c.add_argument("--scene", help="polycrystal scene .npz (from `aistem evaluate`) instead of simulating it")
    c.add_argument("--config", help="TOML file overriding config/train.toml")
    c.add_argument("--quiet", action="store_true", help="no per-candidate lines: only the choice")
    c.set_defaults(func=run_select)


def _register_calibrate(tsub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    k = tsub.add_parser(
        "calibrate",
        help="temperature-scale a trained model on its validation split (Guo et al. 2017)",
        description="Fit one temperature t to the trained model's deterministic logits on the validation split of "
        "--data (the stratified 80/20 split of `aistem train`) by minimising the negative log-likelihood, fold 1/t "
        "into the last layer and write the result with its metadata. Classes are unchanged; the entropies and the "
        "mutual information of MC dropout follow the calibrated softmax.",
    )
    k.add_argument("model", help="trained model (.keras)")
    k.add_argument("--data", required=True, help="the descriptor set it was trained on (HDF5 from `aistem simulate`)")
    k.add_argument("--out", required=True, help="calibrated model file to write (.keras)")
    k.set_defaults(func=run_calibrate)


def run_train(args: argparse.Namespace) -> int:
    if not args.data and not args.out:  # a bare `aistem train`: what it can do
        args.train_parser.print_help()
        return 2
    if not args.data or not args.out:
        raise ValueError(f"give --data SET.h5 and --out MODEL.keras (or a subcommand: {', '.join(TRAIN_SUBCOMMANDS)})")
    cfg = load_train_config(args.config)["train"]
    out = Path(args.out)
    if out.suffix != ".keras":
        raise ValueError(f"--out must name a .keras file, got {out}")
    if not out.parent.exists():
        raise FileNotFoundError(f"--out: directory {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise PermissionError(f"--out: directory {out.parent} is not writable")
    from .train import TrainSettings, load_training_data, train_model

    settings = TrainSettings(
        epochs=_pick(args, "epochs", cfg),
        batch_size=_pick(args, "batch_size", cfg),
        kernel_size=_pick(args, "kernel_size", cfg),
        dropout=_pick(args, "dropout", cfg),
        learning_rate=_pick(args, "learning_rate", cfg),
        patience=_pick(args, "patience", cfg),
        val_fraction=cfg["val_fraction"],
        seed=_pick(args, "seed", cfg),
        subset=_subset(_pick(args, "subset", cfg)),
        max_minutes=_minutes(_pick(args, "max_minutes", cfg)),
        kernel_init=_pick(args, "kernel_init", cfg),
        keep_epochs=bool(args.keep_epochs),
    )
    settings.validate()
    data = load_training_data(args.data)
    print(
        f"training on {args.data}: {len(data)} descriptors, {len(data.class_names)} classes"
        + (f" (subset {settings.subset})" if settings.subset else "")
        + f"; kernel {settings.kernel_size} ({settings.kernel_init}), dropout {settings.dropout:g}, batch {settings.batch_size}, "
        f"≤{settings.epochs} epochs",
        flush=True,
    )
    if args.init and not Path(args.init).is_file():
        raise FileNotFoundError(f"--init: model file not found: {args.init}")
    result = train_model(data, out, settings, echo=None if args.quiet else print, init=args.init)
    m = result.metrics
    print(
        f"model: {result.model_path}  (best epoch {m['best_epoch']}/{m['epochs_run']}: "
        f"validation accuracy {100 * m['val_accuracy']:.2f} %, loss {m['val_loss']:.4f})"
    )
    print(f"training log: {result.log_csv}, {result.log_png}")
    return 0


def run_search_cmd(args: argparse.Namespace) -> int:
    cfg = load_train_config(args.config)
    tc, sc = cfg["train"], cfg["search"]
    from .search import SearchSettings, run_search
    from .train import TrainSettings

    train = TrainSettings(
        epochs=args.epochs if args.epochs is not None else sc["epochs"],
        batch_size=_pick(args, "batch_size", tc),
        learning_rate=_pick(args, "learning_rate", tc),
        patience=_pick(args, "patience", tc),
        val_fraction=tc["val_fraction"],
        seed=tc["seed"],
        subset=_subset(args.subset if args.subset is not None else sc["subset"]),
        max_minutes=_minutes(_pick(args, "max_minutes", tc)),
        kernel_init=tc["kernel_init"],
    )
    settings = SearchSettings(
        max_evals=_pick(args, "max_evals", sc),
        kernel_sizes=tuple(sc["kernel_sizes"]),
        dropout_min=sc["dropout_min"],
        dropout_max=sc["dropout_max"],
        dropout_step=sc["dropout_step"],
        seed=_pick(args, "seed", sc),
        train=train,
    )
    out = Path(args.out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out-dir {out} exists and is not a folder")
    if not out.parent.exists():
        raise FileNotFoundError(f"--out-dir: directory {out.parent} does not exist")
    from aistem.core import cluster_client

    if not Path(args.data).is_file():  # before a cluster is started
        raise FileNotFoundError(f"training data not found: {args.data}")
    if args.parallel is not None and args.parallel < 1:
        raise ValueError(f"--parallel must be ≥ 1, got {args.parallel}")
    with cluster_client(args.scheduler, args.workers) as client:
        summary = run_search(args.data, out, settings, client=client, parallel=args.parallel, quiet=args.quiet)
    print(f"{'kernel':>6} {'dropout':>7} {'val_loss':>9} {'val_acc':>8}  model")
    seen = set()
    for r in summary:
        if r["model"] in seen:
            continue
        seen.add(r["model"])
        print(f"{r['kernel_size']:>6} {r['dropout']:>7.2f} {r['val_loss']:>9.4f} {100 * r['val_accuracy']:>7.2f}%  {r['model']}")
    print(f"trials: {out / 'trials.json'}; next: aistem train select {out} --out best.keras")
    return 0


def run_select(args: argparse.Namespace) -> int:
    cfg = load_train_config(args.config)["selection"]
    if args.out and not args.out.endswith(".keras"):
        raise ValueError(f"--out must name a .keras file, got {args.out}")
    from .evaluate import load_scene, polycrystal_scene
    from .selection import select_model

    seed = _pick(args, "seed", cfg)
    if not 0.0 <= _pick(args, "min_mi_auc", cfg) <= 1.0:  # checked before the scene is simulated
        raise ValueError(f"--min-mi-auc is a ROC AUC, between 0 and 1; got {_pick(args, 'min_mi_auc', cfg)}")
    scene = load_scene(args.scene) if args.scene else polycrystal_scene(seed=seed)
    if not args.quiet:
        print(f"selection on {scene.name} ({scene.image.shape[0]}×{scene.image.shape[1]} px):", flush=True)
    chosen, ranking = select_model(
        args.candidates,
        scene,
        min_val_accuracy=_pick(args, "min_val_accuracy", cfg),
        min_mi_auc=_pick(args, "min_mi_auc", cfg),
        stride=_pick(args, "stride", cfg),
        samples=_pick(args, "samples", cfg),
        seed=seed,
        out=args.out,
        echo=None if args.quiet else print,
    )
    if chosen is None:
        best = max(ranking, key=lambda c: c.val_accuracy)
        need = f"the validation accuracy of {100 * _pick(args, 'min_val_accuracy', cfg):.2f} %"
        if _pick(args, "min_mi_auc", cfg) > 0:
            need += f" and an MI AUC of {_pick(args, 'min_mi_auc', cfg):.3f}"
        raise RuntimeError(
            f"no candidate reaches {need} (highest validation accuracy: {Path(best.path).name}, "
            f"{100 * best.val_accuracy:.2f} %" + (f", MI AUC {best.mi_auc:.3f})" if best.mi_auc == best.mi_auc else ")")
        )
    print(f"chosen: {chosen.path} (median amorphous MI {chosen.median_amorphous_mi:.3f} bit, MI AUC {chosen.mi_auc:.3f})")
    if args.out:
        print(f"copied to {args.out}")
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    import sys

    from .calibrate import T_RANGE, calibrate_model

    for what, path in (("model", args.model), ("--data", args.data)):
        if not Path(path).is_file():
            raise FileNotFoundError(f"{what}: no such file: {path}")
    r = calibrate_model(args.model, args.data, args.out)
    if any(abs(r.temperature / b - 1) < 0.01 for b in T_RANGE):
        print(f"warning: the temperature is at the search bound {T_RANGE}: the fit is not reliable", file=sys.stderr)
    print(
        f"temperature {r.temperature:.4f} (logits divided by it): validation NLL {r.nll_before:.5f} → {r.nll_after:.5f} "
        f"nat on {r.n_validation} descriptors, accuracy {100 * r.accuracy:.2f} % (unchanged); written to {r.path}"
    )
    return 0


# ---------------------------------------------------------------- evaluate
def register_evaluate(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``evaluate``."""
    p = sub.add_parser(
        "evaluate",
        help="evaluate a model on the polycrystal and bicrystal scenes and the validation set",
        description="On the simulated polycrystal: fraction of bulk windows (farther than half a window from any "
        "boundary) assigned their true class, ROC AUC of the mutual information for boundary-or-amorphous vs bulk "
        "windows, median MI [bit] in the amorphous region; the same on a bicrystal of each class; the confusion matrix "
        "on the validation set (with --data). Printed, and saved as PNG and JSON in --out.",
    )
    p.add_argument("--model", help="model file (.keras or the paper's .h5); default: the shipped model")
    p.add_argument(
        "--compare",
        nargs="+",
        metavar="MODEL",
        help="more models (e.g. the paper's ai4stem_optimal_model.h5 and the shipped one), evaluated side by side",
    )
    p.add_argument("--data", help="descriptor set (HDF5) for the validation confusion matrix; omitted: no matrix")
    p.add_argument("--out", default="evaluation", help="folder for the figures and report.json (default: ./evaluation)")
    p.add_argument("--samples", type=int, help="MC-dropout samples per window, T (default 100)")
    p.add_argument("--stride", type=float, help="window step [Å] (default 1.5)")
    p.add_argument("--window", type=float, help="window side [Å] (default 12)")
    p.add_argument("--seed", type=int, help="seed of the scenes and the dropout masks (default 0)")
    p.add_argument("--scene", help="polycrystal scene .npz (as written to --out) instead of simulating it")
    p.add_argument("--no-bicrystals", action="store_true", help="skip the bicrystal scenes (one per class)")
    p.add_argument("--classes", nargs="+", help="bicrystal classes to evaluate (default: all the model's classes)")
    p.add_argument("--bicrystal-samples", type=int, help="MC samples per window on the bicrystals (default: --samples)")
    p.add_argument("--bicrystal-stride", type=float, help="window step on the bicrystals [Å] (default: --stride)")
    p.add_argument(
        "--validation",
        action="store_true",
        help="also run the validation the training recipe did not make: multislice metals per class and "
        "out-of-domain structures ([validation] in config/train.toml; images cached in --validation-cache)",
    )
    p.add_argument("--validation-cache", metavar="DIR", help="folder of the simulated validation images (.npz)")
    p.add_argument(
        "--cached-only",
        action="store_true",
        help="--validation: score only the multislice images already simulated into --validation-cache",
    )
    p.add_argument("--no-scenes", action="store_true", help="skip the polycrystal and bicrystal scenes")
    p.add_argument("--config", help="TOML file overriding config/train.toml")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    cfg = load_train_config(args.config)["evaluation"]
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    if not out.parent.exists():
        raise FileNotFoundError(f"--out: directory {out.parent} does not exist")
    for name in ("model", "compare", "data", "scene"):
        for v in getattr(args, name) if isinstance(getattr(args, name), list) else [getattr(args, name)]:
            if v and not Path(v).is_file():
                raise FileNotFoundError(f"--{name}: file not found: {v}")
    if args.no_scenes and not args.validation:
        raise ValueError("--no-scenes leaves nothing to evaluate without --validation")
    if args.validation:
        _run_validation(args, load_train_config(args.config)["validation"], out)
    if args.no_scenes:
        return 0
    from .evaluate import run_evaluation

    run_evaluation(
        model=args.model,
        compare=args.compare,
        data=args.data,
        out=out,
        samples=_pick(args, "samples", cfg),
        stride=_pick(args, "stride", cfg),
        window=_pick(args, "window", cfg),
        seed=_pick(args, "seed", cfg),
        threshold=cfg["threshold"],
        bulk_margin=cfg["bulk_margin"],
        boundary_margin=cfg["boundary_margin"],
        scene_path=args.scene,
        bicrystals=not args.no_bicrystals,
        classes=args.classes,
        bicrystal_samples=args.bicrystal_samples,
        bicrystal_stride=args.bicrystal_stride,
        misorientation=cfg["bicrystal_misorientation"],
        boundary_angle=cfg["bicrystal_boundary_angle"],
        quiet=args.quiet,
    )
    return 0


def _run_validation(args: argparse.Namespace, cfg: dict[str, Any], out: Path) -> None:
    from aistem.core import load_model

    from .cache import default_cache_dir
    from .validation import run_validation

    paths = [args.model, *(args.compare or [])]
    models = [load_model(p) for p in paths]
    labels = [m.name for m in models]
    if len(set(labels)) < len(labels):
        labels = [f"{lab} ({i})" for i, lab in enumerate(labels)]
    cache = args.validation_cache or cfg["cache_dir"] or default_cache_dir() / "validation"
    run_validation(
        list(zip(labels, models, strict=True)),
        cache,
        out=out,
        samples=_pick(args, "samples", cfg),
        stride=_pick(args, "stride", cfg),
        seed=args.seed or 0,
        rotations=tuple(float(r) for r in cfg["rotations"]),
        size_px=int(cfg["size_px"]),
        structures=list(cfg["structures"]),
        ood=list(cfg["ood"]),
        multislice={k: float(cfg[k]) for k in ("frozen_phonons", "scan_step", "thickness", "supercell")},
        cached_only=args.cached_only,
    )
