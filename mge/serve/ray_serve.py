"""The same HTTP server on Ray Serve: replicas, autoscaling on queue length, one protocol.

:func:`deployment` wraps :func:`mge.serve.app.create_app` as a Ray Serve ingress deployment;
each replica builds the app (loads the models, starts its own dynamic batcher) when it starts,
so a replica that dies is replaced and loads again. Requests that no replica can take wait
in Ray's own queue, bounded by the models' ``max_queue_size`` (503 when full). With
``max_replicas`` above ``replicas``, Ray Serve adds replicas while requests queue
(``target_ongoing_requests`` per replica: one full batch) and removes them when idle.
Needs the ``ray`` extra (``pip install 'mge[ray]'``).

Example:
    >>> from ray import serve
    >>> specs = discover("mobilenet_v2.mge", ServeDefaults())             # doctest: +SKIP
    >>> serve.run(deployment(specs, replicas=2), route_prefix="/")        # doctest: +SKIP
    $ curl localhost:8000/v2/models/mobilenet_v2                          # the same protocol
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from typing import Any

import ray
from ray import serve

from .app import ServerSettings, create_app
from .repository import ModelSpec

DEPLOYMENT_NAME = "mge_serve"
#: seconds a replica may take to answer Serve's health check (Ray's default is 30)
HEALTH_CHECK_TIMEOUT_S = 120.0


def deployment(specs: Sequence[ModelSpec], settings: ServerSettings | None = None,
               replicas: int = 1, max_replicas: int = 0,
               num_cpus_per_replica: float = 1.0) -> Any:
    """A bound Ray Serve application serving ``specs`` with the KServe v2 protocol."""
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas}")
    if max_replicas and max_replicas < replicas:
        raise ValueError(f"max_replicas ({max_replicas}) is below replicas ({replicas})")
    specs, settings = list(specs), settings or ServerSettings()

    def build_app() -> Any:  # Ray Serve calls a plain function on each replica
        return create_app(specs, settings)

    # a replica holds its own bounded queue; requests beyond what all replicas take wait in
    # Ray's queue, which is bounded too (Ray answers 503 when it is full)
    per_replica = max(s.max_queue_size + s.max_batch_size for s in specs)
    # a stopping replica finishes its in-flight requests (bounded by the request timeout);
    # a replica busy loading or compiling on a loaded machine is not declared dead early
    options: dict[str, Any] = {"name": DEPLOYMENT_NAME,
                               "ray_actor_options": {"num_cpus": num_cpus_per_replica},
                               "max_ongoing_requests": per_replica,
                               "max_queued_requests": max(s.max_queue_size for s in specs),
                               "graceful_shutdown_timeout_s": settings.request_timeout_s,
                               "health_check_timeout_s": HEALTH_CHECK_TIMEOUT_S}
    if max_replicas > replicas:
        options["autoscaling_config"] = {
            "min_replicas": replicas, "max_replicas": max_replicas,
            "target_ongoing_requests": max(max(s.max_batch_size for s in specs), 1)}
    else:
        options["num_replicas"] = replicas
    ingress = serve.ingress(build_app)()
    return serve.deployment(ingress, **options).bind()


class _StopRequested(Exception):
    """SIGINT/SIGTERM arrived: leave whatever the main thread waits on and shut down."""


def _request_stop(*_: Any) -> None:
    raise _StopRequested


def run_ray_serve(specs: Sequence[ModelSpec], settings: ServerSettings, host: str, port: int,
                  replicas: int, max_replicas: int, address: str | None) -> int:
    """``mge serve --ray``: start (or join) Ray, serve until SIGINT/SIGTERM, shut down.

    The signal handlers go in right after ``ray.init`` (which installs its own SIGTERM
    handler, ``sys.exit(15)``), so a stop that arrives while ``serve.run`` still waits for
    the last replica to load (one ready replica already answers health checks) shuts Serve
    down cleanly too.
    """
    ray.init(address=address)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _request_stop)
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(deployment(specs, settings, replicas, max_replicas), route_prefix="/")
        print(f"mge serve: Ray Serve on http://{host}:{port} with {replicas} replica(s)",
              flush=True)
        threading.Event().wait()
    except _StopRequested:
        pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal ends the process at once
            signal.signal(sig, signal.SIG_DFL)
    print("mge serve: shutting Ray Serve down (in-flight requests finish)", flush=True)
    serve.shutdown()
    ray.shutdown()
    print("mge serve: Ray Serve shut down", flush=True)
    return 0


__all__ = ["DEPLOYMENT_NAME", "deployment", "run_ray_serve"]
