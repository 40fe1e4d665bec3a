"""The ``nbimages`` command line: ``nbimages serve`` runs the offline simulator."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any


def _serve(args: argparse.Namespace) -> int:
    from .local.server import BANNER, make_server

    try:
        handle = make_server(args.host, args.port, latency=args.latency,
                             partial_interval=args.partial_interval, log=not args.quiet,
                             **_simulator_options(args))
    except OSError as exc:
        print(f"nbimages serve: cannot listen on {args.host}:{args.port}: {exc}",
              file=sys.stderr)
        return 1

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    print(BANNER.format(url=handle.url), flush=True)
    try:
        handle.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        handle.stop()
        print("nbimages simulator stopped", flush=True)
    return 0


def _simulator_options(args: argparse.Namespace) -> dict[str, Any]:
    """The rate limit and batch pace given on the command line (the simulator's defaults otherwise)."""
    given = {"rpm_limit": args.rpm, "rpm_burst": args.rpm_burst, "batch_start_delay": args.batch_start_delay,
             "batch_seconds_per_request": args.batch_seconds_per_request}
    return {name: value for name, value in given.items() if value is not None}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nbimages",
        description="Generate, edit and understand images from Jupyter with OpenAI's image "
                    "models, or offline with the built-in simulator.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands: dict[str, Callable[[argparse.Namespace], int]] = {}

    serve = sub.add_parser(
        "serve", help="run the offline simulator as an OpenAI-compatible HTTP server",
        description="Serve an OpenAI-compatible image API with deterministic procedural "
                    "images (no API key, no network). Point a client at the printed URL, "
                    "e.g. OPENAI_BASE_URL=http://127.0.0.1:8000/v1.")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000,
                       help="port to listen on; 0 picks a free one (default: %(default)s)")
    serve.add_argument("--latency", type=float, default=0.0, metavar="S",
                       help="seconds before each response's headers (default: %(default)s)")
    serve.add_argument("--partial-interval", type=float, default=None, metavar="S",
                       help="seconds between streamed events (default: none)")
    serve.add_argument("--rpm", type=_positive_int, default=None, metavar="N",
                       help="at most N image and Responses requests a minute, then 429s with "
                            "retry-after (default: no limit)")
    serve.add_argument("--rpm-burst", type=_positive_int, default=None, metavar="N",
                       help="at most N of them at once (default: the whole minute's)")
    serve.add_argument("--batch-start-delay", type=float, default=None, metavar="S",
                       help="seconds a batch stays validating (default: a few milliseconds)")
    serve.add_argument("--batch-seconds-per-request", type=float, default=None, metavar="S",
                       help="seconds a batch spends on each request (default: a few milliseconds)")
    serve.add_argument("--quiet", action="store_true", help="do not log requests")
    commands["serve"] = _serve

    parser.set_defaults(_commands=commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    return args._commands[args.command](args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
