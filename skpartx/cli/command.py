"""The ``skpartx`` command: its arguments, and which application each sub-command runs."""

import argparse
import logging
import sys
from collections.abc import Sequence

QUICK_SETTINGS = dict(n_train=1200, n_explain=160, n_test=120, image_size=40, epochs=6)


def _number(text, kind=float):
    try:
        return kind(text)
    except ValueError:
        kind_name = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"must be {kind_name}, got {text!r}") from None


def _at_least_zero(text):
    value = _number(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number at least 0, got {text}")
    return value


def _between_zero_and_one(text):
    value = _number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text}")
    return value


class _TwoNames(argparse.Action):
    """Stores two names, refusing the same name twice (the report tells the models apart by name)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if values[0] == values[1]:
            parser.error(f"argument {option_string}: must be two different names, got {values[0]!r} twice")
        setattr(namespace, self.dest, list(values))


def _resamples(text):
    value = _number(text, int)
    if value < 100:
        raise argparse.ArgumentTypeError(f"must be at least 100 for the intervals' quantiles, got {text}")
    return value


def _parser():
    parser = argparse.ArgumentParser(
        prog="skpartx", description="Global part-based explanations of image classifiers."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="run the whole pipeline on built-in synthetic data, print the rules and write a report"
    )
    demo.add_argument("--out", default="skpartx-demo", help="folder for report.html and figures (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of data, model and sampling (default: 0)")
    demo.add_argument(
        "--family", choices=["disjoint", "shared"], default="disjoint",
        help="synthetic data: classes with parts of their own, or classes sharing parts (default: %(default)s)",
    )
    demo.add_argument("--no-cache", action="store_true", help="train the demo model even if a shipped or cached one exists")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.add_argument(
        "--quick", action="store_true", help="a smaller run (fewer, smaller images; a shorter training) for a first look"
    )
    explain = sub.add_parser(
        "explain",
        help="global part rules for your model on an image folder with COCO part annotations for some images",
    )
    _folder_arguments(explain)
    explain.add_argument("--model", required=True, help="TorchScript file, or module:factory returning the torch module")
    explain.add_argument("--weights", help="state dict for a module:factory model (loaded with weights_only=True)")
    explain.add_argument(
        "--backbone", help="feature network for the part transfer, as --model (default: the model; required for TorchScript)"
    )
    explain.add_argument("--out", default="skpartx-report", help="folder for the report (default: %(default)s)")
    explain.add_argument("--rule-model", default="scorecard",
                         help="scorecard, set_cover or an imodels learner (default: %(default)s)")
    explain.add_argument(
        "--holdout", type=float, default=0.25,
        help="share of images kept out of rule learning to measure the rules on (default: %(default)s)",
    )
    _explanation_arguments(explain, "model's", baseline="blur")
    _compare_parser(sub)
    return parser


def _folder_arguments(parser):
    """The user's files that ``explain`` and ``compare`` read: image folder, part annotations, backbone weights."""
    parser.add_argument("--images", required=True, help="folder with one sub-folder of images per class")
    parser.add_argument(
        "--annotations", required=True, help="COCO part annotations (polygons or RLE) of some images, paths relative to --images"
    )
    parser.add_argument("--backbone-weights", help="state dict for a module:factory backbone")
    parser.add_argument("--image-size", type=int, default=224, help="side images are resized to (default: %(default)s)")


def _explanation_arguments(parser, whose, baseline):
    """How ``explain`` and ``compare`` explain: method, baseline, class names, device, progress."""
    parser.add_argument("--method", default="shapley", help="attribution method (default: %(default)s)")
    parser.add_argument("--baseline", default=baseline,
                        help="what replaces removed parts: zero, mean, blur, reference or inpaint (default: %(default)s)")
    parser.add_argument("--class-names", help=f"file with one class name per line, in the {whose} output order")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _compare_parser(sub):
    from ..compare import DEFAULT_MARGIN

    compare = sub.add_parser(
        "compare",
        help="what changed between two models: their global part explanations compared on an image folder",
    )
    _folder_arguments(compare)
    compare.add_argument("--model-a", required=True, help="the reference model, as --model of skpartx explain")
    compare.add_argument("--model-b", required=True, help="the model compared with it, as --model-a")
    compare.add_argument("--weights-a", help="state dict for a module:factory model A (loaded with weights_only=True)")
    compare.add_argument("--weights-b", help="state dict for a module:factory model B")
    compare.add_argument(
        "--backbone",
        help="feature network of the one part transfer both models share, as --model-a (default: model A; required "
             "when model A is TorchScript)",
    )
    compare.add_argument("--names", nargs=2, action=_TwoNames, default=["A", "B"], metavar=("NAME_A", "NAME_B"),
                         help="names of the two models in the report (default: A B)")
    compare.add_argument("--out", default="skpartx-compare", help="folder for the comparison (default: %(default)s)")
    compare.add_argument(
        "--margin", type=_at_least_zero, default=DEFAULT_MARGIN,
        help="a part shift is flagged only when its whole interval lies beyond this (default: %(default)s)",
    )
    compare.add_argument(
        "--alpha", type=_between_zero_and_one, default=0.05,
        help="family-wise error rate of the shift intervals (default: %(default)s)",
    )
    compare.add_argument(
        "--n-bootstrap", type=_resamples, default=2000, help="bootstrap resamples (default: %(default)s)"
    )
    compare.add_argument(
        "--seed", type=int, default=0, help="random seed of transfer, split, bootstrap and attribution (default: 0)"
    )
    _explanation_arguments(compare, "models'", baseline="mean")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``skpartx`` command."""
    args = _parser().parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")  # the command only writes figures to files
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if args.command == "demo":
        from .demo import run_demo

        overrides = QUICK_SETTINGS if args.quick else {}
        run_demo(
            out_dir=args.out,
            cache_dir=None if args.no_cache else "default",
            verbose=not args.quiet,
            random_state=args.seed,
            family=args.family,
            print_fn=print,
            **overrides,
        )
    elif args.command == "explain":
        from .explain_folder import run_explain

        run_explain(
            args.images,
            args.annotations,
            args.model,
            args.out,
            weights=args.weights,
            backbone=args.backbone,
            backbone_weights=args.backbone_weights,
            image_size=args.image_size,
            method=args.method,
            baseline=args.baseline,
            rule_model=args.rule_model,
            holdout=args.holdout,
            class_names=args.class_names,
            device=args.device,
            verbose=not args.quiet,
            print_fn=print,
        )
    elif args.command == "compare":
        from .compare_models import run_compare

        run_compare(
            args.images,
            args.annotations,
            args.model_a,
            args.model_b,
            args.out,
            weights_a=args.weights_a,
            weights_b=args.weights_b,
            backbone=args.backbone,
            backbone_weights=args.backbone_weights,
            names=args.names,
            image_size=args.image_size,
            method=args.method,
            baseline=args.baseline,
            class_names=args.class_names,
            margin=args.margin,
            alpha=args.alpha,
            n_bootstrap=args.n_bootstrap,
            random_state=args.seed,
            device=args.device,
            verbose=not args.quiet,
            print_fn=print,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
