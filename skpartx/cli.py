"""Command line: ``skpartx demo``."""

import argparse
import logging
import sys

QUICK_SETTINGS = dict(n_train=1200, n_explain=160, n_test=120, image_size=40, epochs=6)


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
    demo.add_argument("--no-cache", action="store_true", help="train the demo model even if a cached one exists")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.add_argument(
        "--quick", action="store_true", help="a smaller run (fewer, smaller images; a shorter training) for a first look"
    )
    return parser


def main(argv=None):
    """Entry point of the ``skpartx`` command."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if args.command == "demo":
        from .demo import run_demo

        overrides = QUICK_SETTINGS if args.quick else {}
        run_demo(
            out_dir=args.out,
            cache_dir=None if args.no_cache else "default",
            verbose=not args.quiet,
            random_state=args.seed,
            **overrides,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
