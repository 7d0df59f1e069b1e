"""Concurrent batches: bounded, per-id outcomes, and a progress bar only on a terminal."""

from __future__ import annotations

import asyncio
import io

from descope_keys.cli._batch import Progress, run_batch
from descope_keys.errors import DescopeError, NotFoundError


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_batch_bounds_concurrency_and_keeps_input_order() -> None:
    in_flight = peak = 0
    finished: list[str] = []

    async def call(key_id: str) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001 * (hash(key_id) % 5))
        in_flight -= 1
        if key_id.endswith("7"):
            raise NotFoundError(404)
        return key_id.lower()

    ids = [f"K{i}" for i in range(20)]
    failures: list[tuple[str, DescopeError]] = []
    result = await asyncio.wait_for(
        run_batch(
            ids,
            call,
            concurrency=3,
            progress=Progress(io.StringIO(), "test", len(ids), enabled=False),
            on_success=lambda k, _: finished.append(k),
            on_failure=lambda k, e: failures.append((k, e)),
        ),
        timeout=10,
    )
    assert peak == 3
    assert [k for k, _ in result.succeeded] == [k for k in ids if not k.endswith("7")]
    assert [v for _, v in result.succeeded] == [k.lower() for k in ids if not k.endswith("7")]
    assert [k for k, _ in result.failed] == ["K7", "K17"]
    assert sorted(finished) == sorted(k for k, _ in result.succeeded)
    assert {k for k, _ in failures} == {"K7", "K17"}


def test_bar_is_redrawn_in_place_and_lines_land_above_it() -> None:
    terminal = _Terminal()
    progress = Progress.for_stream(terminal, "rotate", 3)
    assert progress.enabled
    progress.advance(failed=False)
    progress.write(terminal, "rotated K1")
    progress.advance(failed=True)
    progress.advance(failed=False)
    progress.close()
    text = terminal.getvalue()
    assert "\rrotate [########----------------] 1/3" in text
    assert "2/3, 1 failed" in text
    assert "3/3, 1 failed" in text
    # The line starts on a cleared row and the bar comes back after it.
    before, after = text.split("rotated K1\n")
    assert before.endswith("\r")
    assert after.startswith("\rrotate [")
    assert "\n" not in after
    # Closing wipes the bar: the last thing written is spaces and a carriage return.
    assert text.endswith(" \r")


def test_no_bar_when_not_a_terminal_or_for_one_item() -> None:
    pipe = io.StringIO()
    progress = Progress.for_stream(pipe, "delete", 2)
    progress.advance(failed=False)
    progress.write(pipe, "deleted K1")
    progress.advance(failed=False)
    progress.close()
    assert pipe.getvalue() == "deleted K1\n"
    assert not Progress.for_stream(_Terminal(), "delete", 1).enabled
