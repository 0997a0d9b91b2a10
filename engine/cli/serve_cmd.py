"""``gongai serve``: the HTTP API under uvicorn, with the timer worker beside it in the same process.

The worker is a daemon thread calling :meth:`ApprovalService.fire_timers` every few seconds, so warnings,
deadlines and 超时默许 fire without a separate process; run ``gongai serve --no-timers`` plus a dedicated
worker when several API processes share one database.
"""

from __future__ import annotations

import gc
import logging
import threading
from typing import Optional

import typer

from engine.cli import app
from engine.ops.logs import configure_logging
from engine.services.timer_loop import TimerLoop

log = logging.getLogger("gongai.timers")


class TimerWorker(threading.Thread):
    """Fire due timers every ``interval`` seconds until stopped; failing rounds back off (engine.services.timer_loop)."""

    def __init__(self, service, interval: float = 5.0) -> None:
        super().__init__(name="gongai-timers", daemon=True)
        self.service = service
        self.interval = interval
        self.loop = TimerLoop(service, interval=interval)
        self.stopped = self.loop.stopped

    def run(self) -> None:
        delay = self.interval
        while not self.stopped.wait(delay):
            delay = self.loop.round()

    def stop(self) -> None:
        self.loop.stop()


#: Young objects a collection waits for (CPython's default is 700): a completion allocates thousands (rows, the
#: workflow's task objects), so the default collects several times per request, each time also walking what the
#: previous requests promoted (issue 14: −3.6 % of the instructions per completion, in-process).
GC_THRESHOLDS = (10_000, 20, 20)


def tune_gc() -> None:
    """Freeze what start-up built (modules, the catalogue, parsed models: never garbage) out of every later
    collection, and collect young objects in larger batches (:data:`GC_THRESHOLDS`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", envvar="GONGAI_HOST", help="interface to listen on"),
    port: int = typer.Option(8000, envvar="GONGAI_PORT", help="TCP port"),
    db: Optional[str] = typer.Option(None, "--db", help="database URL (default: GONGAI_DATABASE_URL or sqlite:///gongai.db)"),
    profile: str = typer.Option("default", envvar="GONGAI_PROFILE", help="catalogue profile (jurisdiction), e.g. default or jiangxi"),
    timer_interval: float = typer.Option(5.0, envvar="GONGAI_TIMER_INTERVAL", help="seconds between timer rounds"),
    timers: bool = typer.Option(True, "--timers/--no-timers", help="run the timer worker in this process"),
    worker_threads: Optional[int] = typer.Option(
        None, "--worker-threads", envvar="GONGAI_WORKER_THREADS", min=1,
        help="requests that run at once in this process (default: four per CPU, at least 8); more only helps "
             "when requests wait on a remote database"),
    forwarded_allow_ips: str = typer.Option(
        "127.0.0.1", envvar="GONGAI_FORWARDED_ALLOW_IPS",
        help="reverse proxies trusted to say the client's address (X-Forwarded-For), comma-separated IPs or '*'; "
             "the failed-sign-in limit counts per client address, so list your proxy here or one bad client behind "
             "it locks every user out"),
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) with the timer worker running."""
    import uvicorn

    from api.app import create_app

    configure_logging()  # JSON lines (GONGAI_LOG_FORMAT=text for a terminal), engine/ops/logs.py
    application = create_app(database_url=db, profile=profile, worker_threads=worker_threads)
    tune_gc()
    worker = TimerWorker(application.state.service, timer_interval) if timers else None
    if worker:
        worker.start()
    typer.echo(f"gongai API on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    try:
        uvicorn.run(application, host=host, port=port, log_level="info", log_config=None, access_log=False,
                    proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips)
    finally:
        if worker:
            worker.stop()
