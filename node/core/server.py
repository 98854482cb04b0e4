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

        return create_app(self._settings)


def run_server(settings: Settings, *, host: str, port: int, workers: int = 2) -> None:
    """Serve the node until interrupted."""
    logger.info("server starting", extra={"host": host, "port": port, "workers": workers,
                                          "node_id": settings.node_id})
    _NodeServer(settings, {"bind": f"{host}:{port}", "workers": workers, "threads": 4,
                           "accesslog": "-", "timeout": 60,
                           # No control socket under the home folder: the node keeps its
                           # files in its instance folder.
                           "control_socket_disable": True}).run()
