"""Chunks through the editor in a pipeline: while chunk k's forward pass runs on the calling
thread, one worker thread rebuilds chunk k-1's texts and tokenizes chunk k+1.

The work is cut exactly as in the serial path (same chunks, same windows, same batches);
only *when* the CPU steps run changes, so the output is the same bytes. One worker, so the
tokenizer is never used by two threads at once; the forward pass releases the GIL inside
its kernels, which is what the worker's Python and Rust work runs in.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")


class _Now:
    """The serial path: a 'future' computed when submitted, on the calling thread."""

    def submit(self, fn: Callable, *args) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as err:  # re-raised by .result(), as a worker's would be
            future.set_exception(err)
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def pipeline(jobs: Iterable[T], prepare: Callable[[T], object], score: Callable[[object], object],
             collect: Callable[[object, object], object], *, overlap: bool = True) -> Iterator:
    """``collect(prepared, score(prepared))`` for each job's ``prepared = prepare(job)``,
    yielded in order. With ``overlap``, ``prepare`` of the next job and ``collect`` of the
    last run on a worker thread while ``score`` (the forward pass) runs here. A job is
    pulled from ``jobs`` only when the one before it is being scored (streaming input)."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="toedit-cpu") if overlap else _Now()
    try:
        it = iter(jobs)
        first = next(it, _END)
        upcoming = pool.submit(prepare, first) if first is not _END else None
        pending = None
        while upcoming is not None:
            prepared = upcoming.result()
            job = next(it, _END)
            upcoming = pool.submit(prepare, job) if job is not _END else None
            scored = score(prepared)  # the worker meanwhile rebuilds the last job, tokenizes the next
            if pending is not None:
                yield pending.result()
            pending = pool.submit(collect, prepared, scored)
        if pending is not None:
            yield pending.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_END = object()
