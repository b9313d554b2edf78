"""Where chunks run: this process, a pool of local processes, or Ray actors (local or a cluster).

Each pool keeps a few chunks in flight per worker, so the source is read as the work goes and
results come back (to be written) in the order they finish.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from ..errors import CnnvisError
from .workers import Chunk, ChunkWorker, Settings, init_process, run_in_process

IN_FLIGHT_PER_WORKER = 2


def make_pool(model: Any, settings: Settings, workers: int, use_ray: bool, address: str | None) -> Any:
    if use_ray:
        return RayPool(model, settings, workers, address)
    if workers > 1:
        return ProcessPool(model, settings, workers)
    return InlinePool(model, settings)


class InlinePool:
    def __init__(self, model: Any, settings: Settings):
        self.worker = ChunkWorker(model, settings)

    def map(self, chunks: Iterable[Chunk]) -> Iterator[tuple[Chunk, Any]]:
        for chunk in prefetched(chunks):
            yield chunk, self.worker.run(chunk)

    def close(self) -> None:
        pass


class ProcessPool:
    def __init__(self, model: Any, settings: Settings, workers: int):
        # spawn, not fork: a forked copy of a process that already ran torch/TF threads can hang.
        context = multiprocessing.get_context("spawn")
        self.executor = ProcessPoolExecutor(workers, mp_context=context, initializer=init_process,
                                            initargs=(model, settings, context.Value("i", 0)))
        self.limit = workers * IN_FLIGHT_PER_WORKER

    def map(self, chunks: Iterable[Chunk]) -> Iterator[tuple[Chunk, Any]]:
        pending: dict[Any, Chunk] = {}
        for chunk in chunks:
            pending[self.executor.submit(run_in_process, chunk)] = chunk
            while len(pending) >= self.limit:
                yield from self._finished(pending)
        while pending:
            yield from self._finished(pending)

    @staticmethod
    def _finished(pending: dict) -> Iterator[tuple[Chunk, Any]]:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            yield pending.pop(future), future.result()

    def close(self) -> None:
        self.executor.shutdown(cancel_futures=True)


class RayPool:
    def __init__(self, model: Any, settings: Settings, workers: int, address: str | None):
        try:
            import ray
        except ImportError:
            raise CnnvisError("Ray runs need Ray: pip install 'cnnvis[ray]'.") from None
        self.ray = ray
        self.owns_cluster = False
        if address is not None:
            ray.init(address=address, ignore_reinit_error=True)
        elif not ray.is_initialized():
            ray.init(num_cpus=workers, include_dashboard=False)
            self.owns_cluster = True
        # A model object is stored once in the object store; a path is opened by each actor.
        shipped = model if isinstance(model, str) else ray.put(model)
        # One GPU per actor when the run asks for one (Ray makes it the actor's only visible "cuda").
        gpus = 1 if settings.device and str(settings.device).startswith("cuda") else 0
        actor = ray.remote(num_cpus=1, num_gpus=gpus)(ChunkWorker)
        self.actors = [actor.remote(shipped, settings) for _ in range(workers)]
        self.limit = workers * IN_FLIGHT_PER_WORKER

    def map(self, chunks: Iterable[Chunk]) -> Iterator[tuple[Chunk, Any]]:
        pending: dict[Any, Chunk] = {}
        for n, chunk in enumerate(chunks):
            pending[self.actors[n % len(self.actors)].run.remote(chunk)] = chunk
            while len(pending) >= self.limit:
                yield from self._finished(pending)
        while pending:
            yield from self._finished(pending)

    def _finished(self, pending: dict) -> Iterator[tuple[Chunk, Any]]:
        done, _ = self.ray.wait(list(pending), num_returns=1)
        for ref in done:
            yield pending.pop(ref), self.ray.get(ref)

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        if self.owns_cluster:
            self.ray.shutdown()


_DONE = object()


def prefetched(chunks: Iterable[Chunk], depth: int = 1) -> Iterator[Chunk]:
    """``chunks``, with the next one read (files decoded, arrays stacked) on a thread while this one
    computes, so a GPU does not wait on the source between chunks."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def read() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        ready.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(_DONE)
        except BaseException as exc:  # raised again on the consuming side
            ready.put(exc)

    reader = threading.Thread(target=read, name="cnnvis-prefetch", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
