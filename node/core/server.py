"""Running the node under gunicorn from the `theodoi` command."""

from __future__ import annotations

import logging

from gunicorn.app.base import BaseApplication

from node.core.settings import Settings

logger = logging.getLogger(__name__)


class _NodeServer(BaseApplication):
    def __init__(self, settings: Settings, options: dict) -> None:
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):  # noqa: ANN201
        from node import create_app
        from node.scheduler.runner import start_scheduler

        # gunicorn loads the app in each worker after forking, so every
        # worker starts its own runner; the database lease lets one run jobs.
        app = create_app(self._settings)
        start_scheduler(app)
        return app


def _worker_exit(_server, worker) -> None:  # noqa: ANN001
    from node.scheduler.runner import stop_scheduler

    app = getattr(worker, "wsgi", None)
    if app is not None:
        stop_scheduler(app)


def run_server(settings: Settings, *, host: str, port: int, workers: int = 2) -> None:
    """Serve the node until interrupted."""
    logger.info("server starting", extra={"host": host, "port": port, "workers": workers,
                                          "node_id": settings.node_id})
    _NodeServer(settings, {"bind": f"{host}:{port}", "workers": workers, "threads": 4,
                           "accesslog": "-", "timeout": 60,
                           # No control socket under the home folder: the node keeps its
                           # files in its instance folder.
                           "control_socket_disable": True,
                           "worker_exit": _worker_exit,
                           # Each worker runs a federation sender thread; a lease in
                           # the database lets only one of them send at a time.
                           "post_worker_init": _start_sender(settings)}).run()


def _start_sender(settings: Settings):  # noqa: ANN202
    def post_worker_init(_worker) -> None:  # noqa: ANN001
        from node.federation.delivery import start_background_sender

        start_background_sender(settings)

    return post_worker_init
