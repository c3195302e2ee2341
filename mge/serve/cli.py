"""``mge serve`` and ``mge batch-predict``: the command lines (also ``python -m mge.serve`` and
the ``mge-serve`` console script).

Example:
    $ mge-serve models/ --port 8000 --max-batch-size 16 --max-queue-delay-ms 2
    $ mge-serve serve mobilenet_v2.mge --ray --replicas 2
    $ mge-serve batch-predict mobilenet_v2.mge --input photos/ --output predictions.parquet
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .repository import RepositoryError, ServeDefaults, discover


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mge serve", description="Serve .mge models over HTTP with the KServe v2 "
        "(Open Inference) protocol, dynamic batching and Prometheus metrics.")
    parser.add_argument("model", help="a .mge file, or a repository folder "
                                      "(<name>/<version>/model.mge, optional config.json)")
    parser.add_argument("--name", help="the model's name when serving one file "
                                       "(default: the file's stem)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    defaults = ServeDefaults()
    parser.add_argument("--max-batch-size", type=int, default=defaults.max_batch_size,
                        help="rows merged into one batch; 0 turns batching off "
                             "(default %(default)s)")
    parser.add_argument("--max-queue-delay-ms", type=float,
                        default=defaults.max_queue_delay_ms,
                        help="how long a batch waits for more requests (default %(default)s)")
    parser.add_argument("--max-queue-size", type=int, default=defaults.max_queue_size,
                        help="queued requests per model before 503 (default %(default)s)")
    parser.add_argument("--instances", type=int, default=defaults.instances,
                        help="networks per model running batches at once (default "
                             "%(default)s)")
    parser.add_argument("--threads", type=int, default=defaults.threads,
                        help="CPU threads per network (default %(default)s)")
    parser.add_argument("--backend", default=defaults.backend,
                        help="mge.lite plan backend: auto, numpy, torch, onnxruntime, openvino")
    parser.add_argument("--request-timeout-ms", type=float, default=30000.0,
                        help="per-request limit, queue wait included (default %(default)s)")
    parser.add_argument("--max-request-bytes", type=int, default=64 * 1024 * 1024,
                        help="larger request bodies get 413 (default %(default)s)")
    parser.add_argument("--graceful-timeout-s", type=float, default=30.0,
                        help="on SIGTERM/SIGINT, how long in-flight requests may take "
                             "(default %(default)s)")
    ray = parser.add_argument_group("Ray Serve (pip install 'mge[ray]')")
    ray.add_argument("--ray", action="store_true", help="serve with Ray Serve instead")
    ray.add_argument("--replicas", type=int, default=1, help="replicas (default %(default)s)")
    ray.add_argument("--max-replicas", type=int, default=0,
                     help="autoscale on queue length up to this many replicas")
    ray.add_argument("--ray-address", default=None,
                     help="an existing Ray cluster (default: start a local one)")
    return parser


def _defaults(args: argparse.Namespace) -> ServeDefaults:
    return ServeDefaults(max_batch_size=args.max_batch_size,
                         max_queue_delay_ms=args.max_queue_delay_ms,
                         max_queue_size=args.max_queue_size, instances=args.instances,
                         threads=args.threads, backend=args.backend)


def configure_logging() -> None:
    """JSON access lines and server messages on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access = logging.getLogger("mge.serve.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False


def serve_main(argv: Sequence[str] | None = None) -> int:
    """``mge serve MODEL_OR_REPOSITORY [options]``; returns the exit status."""
    args = _serve_parser().parse_args(argv)
    try:
        specs = discover(args.model, _defaults(args), args.name)
    except RepositoryError as exc:
        print(f"mge serve: {exc}", file=sys.stderr)
        return 2
    configure_logging()
    from .app import ServerSettings

    settings = ServerSettings(request_timeout_s=args.request_timeout_ms / 1000,
                              max_request_bytes=args.max_request_bytes)
    if args.ray:
        from .ray_serve import run_ray_serve

        return run_ray_serve(specs, settings, host=args.host, port=args.port,
                             replicas=args.replicas, max_replicas=args.max_replicas,
                             address=args.ray_address)
    import uvicorn

    from .app import create_app

    app = create_app(specs, settings)
    config = uvicorn.Config(app, host=args.host, port=args.port, access_log=False,
                            timeout_graceful_shutdown=args.graceful_timeout_s,
                            log_level="info")
    uvicorn.Server(config).run()
    return 0


def batch_predict_main(argv: Sequence[str] | None = None) -> int:
    """``mge batch-predict MODEL --input DIR_OR_PARQUET --output OUT.parquet``."""
    from .batch_predict import main

    return main(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """``mge-serve [serve] MODEL ...`` or ``mge-serve batch-predict ...``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "batch-predict":
        return batch_predict_main(args[1:])
    if args and args[0] == "serve":
        args = args[1:]
    return serve_main(args)


__all__ = ["batch_predict_main", "configure_logging", "main", "serve_main"]
