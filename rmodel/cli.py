"""Command line: ``rmodel convert``, ``rmodel inspect``, ``rmodel operators``."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .errors import RModelError


def _dims(values: list[str]) -> dict[str, int]:
    dims = {}
    for item in values:
        name, _, value = item.partition("=")
        if not value.isdigit():
            raise RModelError(f"--dim expects NAME=VALUE with a positive integer, got '{item}'")
        dims[name] = int(value)
    return dims


def _load(args: argparse.Namespace):
    from .frontends import load_model

    options = {}
    if getattr(args, "dim", None):
        options["dim_values"] = _dims(args.dim)
    if getattr(args, "converter", None):
        options["converter"] = args.converter
    if getattr(args, "no_optimize", False):
        options["optimize"] = False
    if args.model.endswith(".rmodel"):
        return load_model(args.model)
    return load_model(args.model, batch_size=args.batch_size, **options)


def _hls_options(args: argparse.Namespace) -> dict:
    options = {}
    if args.precision:
        options["precision"] = args.precision
    if args.reuse_factor:
        options["reuse_factor"] = args.reuse_factor
    if args.part:
        options["part"] = args.part
    if args.clock_period:
        options["clock_period"] = args.clock_period
    return options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rmodel", description="Turn neural networks into dependency-free C++.")
    parser.add_argument("--version", action="version", version=f"rmodel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    conv = sub.add_parser("convert", help="generate C++ (a CPU header or an HLS project) from a model")
    conv.add_argument("model", help=".onnx, .keras, .h5, .rmodel file or SavedModel directory")
    conv.add_argument("-o", "--output", required=True, help="header path (cpu) or project directory (hls)")
    conv.add_argument("--target", choices=["cpu", "hls"], default="cpu")
    conv.add_argument("--batch-size", type=int, default=1)
    conv.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE", help="fix a named symbolic dim")
    conv.add_argument("--namespace", help="C++ namespace (default: the model's name)")
    conv.add_argument(
        "--weights",
        choices=["embedded", "file"],
        default="embedded",
        help="cpu: embed weights in the header or write them to <output>.weights",
    )
    conv.add_argument("--converter", choices=["native", "tf2onnx"], help="Keras models: which converter")
    conv.add_argument("--no-optimize", action="store_true", help="keep one operator per ONNX node (no fusions)")
    conv.add_argument("--precision", help="hls: default fixed-point type, e.g. 'ap_fixed<16,6>' or 'float'")
    conv.add_argument("--reuse-factor", type=int, help="hls: multiplier reuse factor")
    conv.add_argument("--part", help="hls: FPGA part for build_prj.tcl")
    conv.add_argument("--clock-period", type=float, help="hls: clock period in ns")
    conv.add_argument("--verify", action="store_true", help="compile and compare with onnxruntime")

    insp = sub.add_parser("inspect", help="print operators, shapes, parameters and FLOPs")
    insp.add_argument("model")
    insp.add_argument("--batch-size", type=int, default=1)
    insp.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE")
    insp.add_argument("--converter", choices=["native", "tf2onnx"])
    insp.add_argument("--no-optimize", action="store_true", help="show the graph before fusions")

    sub.add_parser("operators", help="list the supported ONNX operators")

    args = parser.parse_args(argv)
    try:
        if args.command == "operators":
            from .operators import supported_operators

            print("\n".join(supported_operators()))
            return 0
        model = _load(args)
        if args.command == "inspect":
            print(model.summary())
            return 0
        if args.target == "cpu":
            model.generate(args.output, namespace=args.namespace, weights=args.weights)
        else:
            model.generate(args.output, target="hls", namespace=args.namespace, **_hls_options(args))
        print(
            f"wrote {args.output}"
            + (f" (+ {args.output}.weights)" if args.weights == "file" and args.target == "cpu" else "")
        )
        if args.verify:
            from .verify import verify

            if args.target == "hls":
                from .emitters.hls import verify_hls

                report = verify_hls(model, namespace=args.namespace, **_hls_options(args))
            else:
                report = verify(model, weights=args.weights)
            print(report)
            if not report.ok:
                return 1
        return 0
    except RModelError as exc:
        print(f"rmodel: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"rmodel: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
