"""Long work (ScoreCAM / AblationCAM, whole-dataset runs) in a bounded thread pool.

A job is a function ``work(progress, cancel) -> Reply``. ``progress(done, total, message)`` may be
called from the worker thread at any time; ``cancel`` is a ``threading.Event`` that the services
check between batches. Results stay in memory until the job is forgotten (oldest finished first).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import CancelledError, CnnvisError
from .dispatch_types import Reply
from .errors import BadRequest, NotFound, TooManyJobs

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = frozenset({DONE, FAILED, CANCELLED})

log = logging.getLogger("cnnvis")

Progress = Callable[[int, int, str], None]
Work = Callable[[Progress, threading.Event], Reply]


@dataclass
class Job:
    id: str
    kind: str
    params: dict
    state: str = QUEUED
    done: float = 0
    total: int = 0
    message: str = ""
    error: str | None = None
    error_status: int | None = None
    result: Reply | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    version: int = 0  # bumped on every change, so watchers send only what changed

    @property
    def finished_state(self) -> bool:
        return self.state in FINISHED

    def snapshot(self) -> dict:
        """JSON view of the job; the result's buffers are listed, not included."""
        out: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "params": self.params, "state": self.state,
            "progress": {"done": self.done, "total": self.total,
                         "fraction": round(self.done / self.total, 4) if self.total else None},
            "message": self.message, "error": self.error,
            "created": self.created, "started": self.started, "finished": self.finished,
        }
        if self.result is not None:
            out["result"] = self.result.result
            out["buffers"] = len(self.result.buffers)
        return out


class JobManager:
    """Runs at most ``concurrency`` jobs at once; the rest wait in order (state ``queued``)."""

    def __init__(self, concurrency: int = 1, keep: int = 64, max_pending: int = 64):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.max_pending = max_pending  # queued or running jobs accepted at once
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="cnnvis-job")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self.keep = keep  # finished jobs kept for their results

    def submit(self, kind: str, work: Work, params: dict | None = None) -> Job:
        job = Job(id=uuid.uuid4().hex[:12], kind=kind, params=dict(params or {}))
        with self._lock:
            pending = sum(1 for j in self._jobs.values() if not j.finished_state)
            if pending >= self.max_pending:
                raise TooManyJobs(
                    f"{pending} jobs are already queued or running; wait for some to finish or cancel them."
                )
            self._jobs[job.id] = job
            self._forget_old()
        self._pool.submit(self._run, job, work)
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"No job {job_id!r}; it never existed or its result was discarded.")
        return job

    def list(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def cancel(self, job_id: str) -> Job:
        """Ask a job to stop. A queued job is cancelled at once; a running one at its next check."""
        job = self.get(job_id)
        with self._lock:
            if job.finished_state:
                return job
            job.cancel.set()
            if job.state == QUEUED:
                self._finish(job, CANCELLED, "Cancelled before it started.")
            else:
                job.message = "Cancelling..."
                job.version += 1
        return job

    def shutdown(self) -> None:
        for job in self.list():
            job.cancel.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, job: Job, work: Work) -> None:
        with self._lock:
            if job.state != QUEUED:  # cancelled while waiting
                return
            job.state, job.started, job.message = RUNNING, time.time(), "Running."
            job.version += 1

        def progress(done: int, total: int, message: str = "") -> None:
            with self._lock:
                job.done, job.total = round(float(done), 3), int(total)  # fractions within an input
                if message:
                    job.message = message
                job.version += 1

        try:
            reply = work(progress, job.cancel)
        except CancelledError as exc:
            with self._lock:
                self._finish(job, CANCELLED, str(exc))
            return
        except CnnvisError as exc:
            with self._lock:
                job.error_status = getattr(exc, "status", 400)
                self._finish(job, CANCELLED if job.cancel.is_set() else FAILED, str(exc), error=str(exc))
            return
        except Exception as exc:  # a job must never take the worker thread down with it
            with self._lock:
                job.error_status = 500
                self._finish(job, FAILED, "Failed.", error=f"{type(exc).__name__}: {exc}")
            log.exception("cnnvis job %s (%s) failed", job.id, job.kind)
            return
        with self._lock:
            job.result = reply
            if job.cancel.is_set():
                self._finish(job, CANCELLED, "Cancelled (the last step had already finished).")
            else:
                if job.total:
                    job.done = job.total
                self._finish(job, DONE, "Done.")

    @staticmethod
    def _finish(job: Job, state: str, message: str, error: str | None = None) -> None:
        job.state, job.message, job.finished = state, message, time.time()
        if error is not None:
            job.error = error
        job.version += 1

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.finished_state]
        for job in sorted(finished, key=lambda j: j.finished or 0)[:max(0, len(finished) - self.keep)]:
            del self._jobs[job.id]


def chunked_explain(dispatcher: Any, args: dict, indices: list[int], chunk: int,
                    progress: Progress, cancel: threading.Event, *, keep_images: bool = True) -> Reply:
    """Explain ``indices`` a chunk at a time, so progress is real and cancel is prompt.

    Replies are merged: overlays (PNG) in order, then raw / maps (/ images) as .npy stacks.
    ``keep_images=False`` (whole-dataset runs) keeps only the arrays.
    """
    import numpy as np

    from .codec import from_npy, to_npy

    if not indices:
        raise BadRequest("There are no inputs to explain.")
    total = len(indices)
    overlays: list[bytes] = []
    arrays: dict[str, list] = {"raw": [], "maps": [], "images": []}
    meta: dict[str, Any] = {"targets": [], "target_names": [], "top_k": []}
    progress(0, total, f"Explaining {total} input(s).")
    for start in range(0, total, chunk):
        if cancel.is_set():
            raise CancelledError("The job was cancelled.")
        part = indices[start:start + chunk]
        part_args = {**args, "indices": part}
        if isinstance(args.get("target"), list):  # one target per input: follow the chunk
            part_args["target"] = args["target"][start:start + chunk]
        n = len(part)

        def within(done: int, forwards: int, start: int = start, n: int = n) -> None:
            progress(start + n * done / max(forwards, 1), total)

        reply = dispatcher.handle("explain", part_args, cancel=cancel, progress=within)
        names = reply.result["buffers"]
        if keep_images:
            overlays.extend(reply.buffers[:n])
        for name, data in zip(names[n:], reply.buffers[n:], strict=True):
            if name in arrays and (keep_images or name != "images"):
                arrays[name].append(from_npy(data))
        for key in ("targets", "target_names", "top_k"):
            meta[key].extend(reply.result.get(key) or [None] * n)
        meta.update(method=reply.result["method"], layer=reply.result["layer"])
        progress(start + n, total, f"Explained {start + n} of {total}.")
    stacked = {k: np.concatenate(v) for k, v in arrays.items() if v}
    buffers = [*overlays, *(to_npy(a) for a in stacked.values())]
    names = [f"overlay {i}" for i in range(len(overlays))] + list(stacked)
    return Reply({**meta, "indices": indices, "shape": list(stacked["maps"].shape),
                  "raw_shape": list(stacked["raw"].shape), "buffers": names}, buffers)
