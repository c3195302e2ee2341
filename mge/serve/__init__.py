"""``mge.serve``: serve ``.mge`` models over HTTP with the KServe v2 (Open Inference) protocol.

One ``.mge`` file or a model repository folder is served by FastAPI/uvicorn with dynamic
batching (a bounded queue: 503 and ``Retry-After`` when full), per-request timeouts, graceful
shutdown, Prometheus metrics and JSON access logs (:mod:`mge.serve.app`); Ray Serve runs the
same app on replicas (:mod:`mge.serve.ray_serve`) and Ray Data runs offline batch inference
(:mod:`mge.serve.batch_predict`). FastAPI, uvicorn and prometheus-client come with the
``serve`` extra, Ray with the ``ray`` extra; this package imports them in the modules that use
them, so ``import mge.serve`` needs neither.

Example:
    $ mge-serve mobilenet_v2.mge --port 8000
    $ curl -s localhost:8000/v2/models/mobilenet_v2
"""

from .repository import ModelSpec, RepositoryError, ServeDefaults, discover

__all__ = ["ModelSpec", "RepositoryError", "ServeDefaults", "discover"]
