"""The live progress display of ``fit(progress=True)``: a tqdm bar, or one plain line."""

from __future__ import annotations

import sys
import time

import numpy as np


def next_chunk(chunk: int, seconds: float) -> int:
    """Epochs for the next kernel call when a progress display is on.

    Aims at about 0.2 s per call, so the display refreshes about 5 times a second and the
    extra calls cost little (benchmarks/README.md, "Measurements behind the kernel's
    constants"). ``seconds`` is how long the last call of ``chunk`` epochs took. The chunk
    shrinks at once when a call ran long but at most doubles per call: the first call may have
    included compilation, and on a busy machine a single quick call says little about the next
    one.
    """
    if seconds <= 0.0:
        return chunk * 2
    return max(1, min(chunk * 2, int(chunk * 0.2 / seconds)))


def printer(
    epochs: int, shown_rows=(True, True, False, False), *, interval: float = 0.2, file=None,
    use_tqdm: bool = True, desc: str = "fit", unit: str = "epoch",
):  # fmt: skip
    """A ``show(done, records, note="")`` function for ``fit(progress=True)``.

    ``show(done, records)`` reports that ``done`` of ``epochs`` epochs are finished, with
    ``records`` the (4, done) rows loss, accuracy, val_loss, val_accuracy;
    ``show(0, None, note)`` shows a state before the first epoch (e.g. compiling) at once;
    ``show(None, None, note)`` draws the final state, ends the display and, when ``note`` is
    not empty, prints it on a line of its own (how training ended). It redraws at most once
    per ``interval`` seconds whatever the call rate (``fit`` calls it after every epoch when
    early stopping or a callback is on), and only then formats anything. The display is a
    tqdm bar when tqdm is installed (``pip install 'fnn[progress]'``) and ``use_tqdm``, else
    one line rewritten in place on ``file`` (default ``sys.stderr``). ``shown_rows`` says
    which of the four records to display (accuracy only for classifiers, validation only
    when there is some; none for a plain counter). ``desc`` and ``unit`` name the display
    and what it counts (``fit_many`` counts finished members: ``desc="fit_many"``,
    ``unit="members"``).
    """
    tqdm = None
    if use_tqdm:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
    stream = sys.stderr if file is None else file
    started = time.perf_counter()
    bar = None
    if tqdm is not None:
        bar = tqdm(total=epochs, unit=unit, desc=desc, file=stream, mininterval=0.0,
                   dynamic_ncols=True)  # fmt: skip
    # Closure state of this one display (rebound through ``nonlocal``): when it last drew,
    # the latest report, the width of the plain line.
    last_drawn = -np.inf
    latest = None
    width = 0

    def metrics(records) -> str:
        names = ("loss", "accuracy", "val_loss", "val_accuracy")
        formats = (".4g", ".4f", ".4g", ".4f")
        return "  ".join(
            f"{name} {records[row, -1]:{spec}}"
            for row, (name, spec) in enumerate(zip(names, formats))
            if shown_rows[row]
        )

    def draw(done, records, note: str = "") -> None:
        nonlocal width
        text = metrics(records) if done else note
        if bar is not None:
            bar.set_postfix_str(text, refresh=False)
            bar.update(done - bar.n)
            bar.refresh()
            return
        elapsed = time.perf_counter() - started
        line = f"{desc}: {unit} {done}/{epochs} ({100 * done / max(epochs, 1):3.0f} %)  {text}"
        line += f"  [{elapsed:.1f} s"
        if 0 < done < epochs:
            line += f", {elapsed * (epochs - done) / done:.0f} s left"
        line += "]"
        print(f"\r{line:<{width}}", end="", file=stream, flush=True)
        width = len(line)

    def show(done, records, note: str = "") -> None:
        nonlocal last_drawn, latest
        if done is None:
            if latest is not None:
                draw(*latest)
            if bar is not None:
                bar.close()
            elif width:  # a line was drawn: end it
                print(file=stream, flush=True)
            if note:
                print(f"{desc}: {note}", file=stream, flush=True)
            return
        if records is None:  # a state before the first epoch: draw it now
            draw(done, None, note)
            return
        latest = (done, records)
        now = time.perf_counter()
        if now - last_drawn >= interval or done == epochs:
            last_drawn = now
            draw(done, records)
            latest = None

    return show
