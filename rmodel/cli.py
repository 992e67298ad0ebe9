"""Command line: ``rmodel convert``, ``rmodel inspect``, ``rmodel operators``."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from ._version import __version__
from .errors import RModelError

HLS_ONLY = {
    "precision": "--precision",
    "reuse_factor": "--reuse-factor",
    "io_type": "--io-type",
    "strategy": "--strategy",
    "part": "--part",
    "clock_period": "--clock-period",
}


class UsageError(RModelError):
    """A bad combination of command-line options."""


class _Parser(argparse.ArgumentParser):
    """argparse with the one-line ``rmodel: error: ...`` contract (exit 2)."""

    def error(self, message: str) -> NoReturn:
        _fail(f"{message} (see '{self.prog} --help')")


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


class _Phases:
    """One line per finished step on stderr (``rmodel: compiling ... done in 3.1 s``), silent with
    --quiet. On a terminal the step shows while it runs, with its elapsed seconds counting up (a
    large model compiles for a minute); a failed step leaves no line behind, so an error is still
    the single ``rmodel: error:`` line."""

    #: seconds between two updates of the running step's line on a terminal
    TICK = 1.0

    def __init__(self, quiet: bool, live: bool | None = None):
        self.quiet = quiet
        self.live = (not quiet and sys.stderr.isatty()) if live is None else live

    @contextlib.contextmanager
    def __call__(self, what: str) -> Iterator[None]:
        start = time.perf_counter()
        done = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(what, start, done), daemon=True)
        if self.live:
            print(f"rmodel: {what} ...", end="", file=sys.stderr, flush=True)
            ticker.start()
        try:
            yield
        except BaseException:
            self._stop(ticker, done)
            if self.live:
                print("\r\033[K", end="", file=sys.stderr, flush=True)
            raise
        self._stop(ticker, done)
        if not self.quiet:
            lead = "\r\033[K" if self.live else ""
            print(f"{lead}rmodel: {what} ... done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)

    def _tick(self, what: str, start: float, done: threading.Event) -> None:
        while not done.wait(self.TICK):
            print(
                f"\r\033[Krmodel: {what} ... {time.perf_counter() - start:.0f} s", end="", file=sys.stderr, flush=True
            )

    @staticmethod
    def _stop(ticker: threading.Thread, done: threading.Event) -> None:
        done.set()
        if ticker.is_alive():
            ticker.join()


def _report(message: str) -> int:
    print(f"rmodel: error: {_one_line(message)}", file=sys.stderr)
    return 2


def _fail(message: str) -> NoReturn:
    sys.exit(_report(message))


def _check_options(args: argparse.Namespace) -> None:
    """Refuse options that would be silently ignored."""
    if args.command not in ("convert", "inspect"):
        return
    if args.model.endswith(".rmodel"):
        given = [
            flag
            for flag, value in (
                ("--batch-size", args.batch_size),
                ("--max-batch", args.max_batch),
                ("--dim", args.dim),
                ("--converter", args.converter),
                ("--no-optimize", args.no_optimize),
            )
            if value
        ]
        if given:
            raise UsageError(
                f"{', '.join(given)} cannot change a .rmodel file: it keeps the shapes and options it was saved "
                "with; convert the original .onnx/.keras model instead"
            )
    if args.command != "convert":
        return
    if args.target == "cpu":
        given = [flag for key, flag in HLS_ONLY.items() if getattr(args, key) is not None]
        if given:
            raise UsageError(f"{', '.join(given)} only apply to the HLS target; add --target hls")
        output = Path(args.output)
        if output.is_dir():
            raise UsageError(f"-o {args.output} is a directory; the CPU target writes one header file")
    else:
        if args.weights is not None:
            raise UsageError("--weights applies to the CPU target only (HLS projects keep weights in firmware/weights)")
        output = Path(args.output)
        if output.exists() and not output.is_dir():
            raise UsageError(f"-o {args.output} is a file; the HLS target writes a project directory")


def _parse_batch(args: argparse.Namespace) -> None:
    """--batch-size N|dynamic and --max-batch M into args.batch_size (int, None = dynamic, or unset)."""
    text = getattr(args, "batch_size", None)
    args.dynamic_batch = text == "dynamic"
    if text is not None and not args.dynamic_batch:
        if not text.isdigit() or int(text) < 1:
            raise UsageError(f"--batch-size must be a positive integer or 'dynamic', got '{text}'")
        args.batch_size = int(text)
    max_batch = getattr(args, "max_batch", None)
    if max_batch is not None and not args.dynamic_batch:
        raise UsageError("--max-batch applies to --batch-size dynamic only")
    if max_batch is not None and max_batch < 1:
        raise UsageError(f"--max-batch must be a positive integer, got {max_batch}")


def _dims(values: list[str]) -> dict[str, int]:
    dims = {}
    for item in values:
        name, _, value = item.partition("=")
        if not value.isdigit() or int(value) < 1 or not name:
            raise RModelError(f"--dim expects NAME=VALUE with a positive integer, got '{item}'")
        dims[name] = int(value)
    return dims


def _load(args: argparse.Namespace):
    from .frontends import load_model

    options: dict[str, Any] = {}
    if getattr(args, "dim", None):
        options["dim_values"] = _dims(args.dim)
    if getattr(args, "converter", None):
        options["converter"] = args.converter
    if getattr(args, "no_optimize", False):
        options["optimize"] = False
    if args.model.endswith(".rmodel"):
        return load_model(args.model)
    if args.dynamic_batch:
        return load_model(args.model, batch_size=None, max_batch=args.max_batch, **options)
    return load_model(args.model, batch_size=args.batch_size or 1, **options)


def _hls_options(args: argparse.Namespace) -> dict:
    options = {}
    for key in HLS_ONLY:
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    return options


def main(argv: list[str] | None = None) -> int:
    """Run the command line; every failure is one line ``rmodel: error: ...`` and exit status 2."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers below
        return code
    except RModelError as exc:
        return _report(str(exc))
    except BrokenPipeError:
        # the reader went away (e.g. `rmodel inspect m.onnx | head -1`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return _report("the output pipe was closed before all output was written")
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _report(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        return _report("interrupted")
    except MemoryError:
        return _report("out of memory; see 'Limits' in README.md for the sizes rmodel accepts")
    except Exception as exc:  # a bug in rmodel: still one line, with a way to see more
        if os.environ.get("RMODEL_DEBUG"):
            raise
        return _report(
            f"internal error ({type(exc).__name__}: {exc}); run with RMODEL_DEBUG=1 for a traceback and please report it"
        )


def _main(argv: list[str] | None) -> int:
    parser = _Parser(prog="rmodel", description="Turn neural networks into dependency-free C++.")
    parser.add_argument("--version", action="version", version=f"rmodel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    conv = sub.add_parser("convert", help="generate C++ (a CPU header or an HLS project) from a model")
    conv.add_argument("model", help=".onnx, .keras, .h5, .rmodel file or SavedModel directory")
    conv.add_argument("-o", "--output", required=True, help="header path (cpu) or project directory (hls)")
    conv.add_argument("--target", choices=["cpu", "hls"], default="cpu")
    conv.add_argument(
        "--batch-size", metavar="N|dynamic", help="batch size (default 1); 'dynamic': any batch at run time"
    )
    conv.add_argument(
        "--max-batch", type=int, metavar="M", help="with --batch-size dynamic: the largest batch kernel (default 16)"
    )
    conv.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE", help="fix a named symbolic dim")
    conv.add_argument("--namespace", help="C++ namespace (default: the model's name)")
    conv.add_argument(
        "--weights",
        choices=["auto", "embedded", "file"],
        help="cpu: embed weights in the header, or write them to <output>.weights; "
        "default auto: embedded up to 128 MiB of weights",
    )
    conv.add_argument("--converter", choices=["native", "tf2onnx"], help="Keras models: which converter")
    conv.add_argument("--no-optimize", action="store_true", help="keep one operator per ONNX node (no fusions)")
    conv.add_argument("--precision", help="hls: default fixed-point type, e.g. 'ap_fixed<16,6>' or 'float'")
    conv.add_argument("--reuse-factor", type=int, help="hls: multiplier reuse factor")
    conv.add_argument(
        "--io-type",
        choices=["io_parallel", "io_stream", "io_serial"],
        help="hls: arrays in one pipeline (lowest latency), streams of whole pixels/vectors, or one value per word",
    )
    conv.add_argument("--strategy", choices=["latency", "resource"], help="hls: weights in registers or in RAM")
    conv.add_argument("--part", help="hls: FPGA part for build_prj.tcl")
    conv.add_argument("--clock-period", type=float, help="hls: clock period in ns")
    conv.add_argument(
        "--verify",
        action="store_true",
        help="compile and compare with onnxruntime (and with Keras' own predict for Keras files, if Keras is installed)",
    )
    conv.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")

    insp = sub.add_parser("inspect", help="print operators, shapes, parameters and FLOPs")
    insp.add_argument("model")
    insp.add_argument(
        "--batch-size", metavar="N|dynamic", help="batch size (default 1); 'dynamic': any batch at run time"
    )
    insp.add_argument(
        "--max-batch", type=int, metavar="M", help="with --batch-size dynamic: the largest batch kernel (default 16)"
    )
    insp.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE")
    insp.add_argument("--converter", choices=["native", "tf2onnx"])
    insp.add_argument("--no-optimize", action="store_true", help="show the graph before fusions")
    insp.add_argument(
        "--graph",
        metavar="OUT.svg|OUT.png",
        help="also draw the operator graph (shapes, parameters, FLOPs) and the memory plan (needs matplotlib)",
    )

    sub.add_parser("operators", help="list the supported ONNX operators")

    args = parser.parse_args(argv)
    _parse_batch(args)
    _check_options(args)
    weights = getattr(args, "weights", None) or "auto"
    if args.command == "operators":
        from .operators import supported_operators

        print("\n".join(supported_operators()))
        return 0
    phase = _Phases(getattr(args, "quiet", False) or args.command == "inspect")
    with phase(f"loading {args.model}"):
        model = _load(args)
    if args.command == "inspect":
        print(model.summary())
        if args.graph:
            from .picture import draw

            draw(model, args.graph)
            print(f"wrote {args.graph}")
        return 0
    with phase(f"generating {'an HLS project' if args.target == 'hls' else 'the header'} {args.output}"):
        if args.target == "cpu":
            from .emitters.cpu import resolve_weights

            weights = resolve_weights(model, weights)
            model.generate(args.output, namespace=args.namespace, weights=weights)
        else:
            model.generate(args.output, target="hls", namespace=args.namespace, **_hls_options(args))
    print(
        f"wrote {args.output}" + (f" (+ {args.output}.weights)" if weights == "file" and args.target == "cpu" else "")
    )
    if args.verify:
        from .verify import VerifyReport, verify

        report: VerifyReport
        if args.target == "hls":
            from .emitters.hls import verify_hls

            with phase("building and running the C simulation, and onnxruntime"):
                report = verify_hls(model, namespace=args.namespace, **_hls_options(args))
        else:
            with phase("compiling (g++ -O3 -march=native) and comparing with onnxruntime"):
                report = verify(model, weights=weights)
            if Path(args.model).suffix.lower() in (".keras", ".h5", ".hdf5"):
                from .verify import add_keras_reference

                with phase("comparing with Keras' own predict"):
                    add_keras_reference(report, model, args.model)
        print(report)
        if not report.ok:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
