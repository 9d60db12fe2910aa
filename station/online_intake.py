"""The API's intake at rush hour: submissions committed together, letters written after.

A portal's import job on deadline day sends hundreds of applications a second. One
transaction (and one commit, one disk flush) per application would cap the API far below
that, so `SubmissionBatcher` gathers the submissions that arrive while the previous batch
is being committed and registers them in one transaction (`registry.online`). A request is
answered only after its batch has committed: a 201 always means registered.

The acknowledgment letter (a PDF for the mail) is not written inside the request:
`LetterWriter` writes the letters of new registrations in a background thread, while the
intake is quiet. If the process stops first, `csq letters print` writes whatever is still
missing; the candidate's file number and priority date are in the API's answer at once.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time

from starlette.concurrency import run_in_threadpool

from registry import online
from station import limits

log = logging.getLogger("csq.station")


class LetterWriter:
    """Writes acknowledgment letters in one background thread, yielding to the intake."""

    def __init__(self, registry, is_busy):
        self._registry = registry
        self._is_busy = is_busy  # () -> bool: submissions came in a moment ago
        self._waiting: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def add(self, file_nos: list[str]) -> None:
        if not file_nos:
            return
        for file_no in file_nos:
            self._waiting.put(file_no)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="csq-letters", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                file_no = self._waiting.get(timeout=limits.LETTER_WRITER_LINGER_S)
            except queue.Empty:
                with self._lock:  # ends only with nothing queued: add() starts another if it must
                    if self._waiting.empty():
                        self._thread = None
                        return
                continue
            # Wait for a lull in the intake; under a rush that does not end, write one letter
            # at least every LETTER_WRITER_MAX_DEFER_S all the same (a few % of a core).
            deferred_until = time.monotonic() + limits.LETTER_WRITER_MAX_DEFER_S
            while self._is_busy() and time.monotonic() < deferred_until:
                time.sleep(limits.LETTER_WRITER_PAUSE_S)
            try:
                self._registry.write_letter(file_no)
            except Exception as exc:  # noqa: BLE001 - a letter is never worth the intake; print retries it
                log.warning("%s: acknowledgment letter not written (%s); `csq letters print` will write it", file_no, exc)


class SubmissionBatcher:
    """Group commit of online submissions: one transaction for all that arrive together."""

    def __init__(self, registry, *, max_batch: int = limits.API_BATCH_MAX):
        self._registry = registry
        self._max_batch = max_batch
        self._waiting: list[tuple[online.OnlineSubmission, asyncio.Future]] = []
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._committing = False
        self._last_activity = 0.0  # time.monotonic() of the last submission in or answer out
        self.batches_committed = 0  # transactions that registered submissions (for the tests and figures)
        self.letters = LetterWriter(registry, self.busy)

    def busy(self) -> bool:
        """Submissions are coming in: one arrived or was answered less than LETTER_WRITER_QUIET_S ago."""
        return self._committing or bool(self._waiting) or time.monotonic() - self._last_activity < limits.LETTER_WRITER_QUIET_S

    async def submit(self, submission: online.OnlineSubmission) -> online.BatchOutcome:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._run(), name="csq-intake-batches")
        future = loop.create_future()
        self._last_activity = time.monotonic()
        self._waiting.append((submission, future))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._waiting:
                batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch:]
                self._committing = True
                try:
                    outcomes = await run_in_threadpool(online.register_batch, self._registry, [s for s, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every waiting request gets the error (nothing was kept)
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                finally:
                    self._committing = False
                self.batches_committed += 1
                self._last_activity = time.monotonic()
                for (_, future), outcome in zip(batch, outcomes):
                    if not future.done():  # the client may have gone: its registration stands
                        future.set_result(outcome)
                self.letters.add([o.result.file_no for o in outcomes if o.written])
