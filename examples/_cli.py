"""The command line every example shares: ``--fast``, ``--out DIR`` and ``--progress``.

Not an example itself: the scripts next to it import it (``python examples/NAME.py`` puts
this folder on ``sys.path``).
"""

import argparse
import importlib.util
from pathlib import Path


def parse(doc: str, argv: list[str] | None, *, fast: str, trains_with_fit: bool = True, more=None):
    """Parse an example's arguments; refuse ``--out`` at once when matplotlib is missing.

    Parameters
    ----------
    doc : str
        The example's docstring; its first line describes the script in ``--help``.
    argv : list of str or None
        The arguments (None: ``sys.argv[1:]``).
    fast : str
        What ``--fast`` changes, for ``--help``.
    trains_with_fit : bool
        Offer ``--progress`` (``fit``'s progress bar).
    more : callable or None
        ``more(parser)`` adds the example's own options after the shared ones.

    Returns
    -------
    argparse.Namespace
        ``fast`` (bool), ``out`` (Path or None) and, with ``trains_with_fit``, ``progress``.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help=fast)
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="write the figures to DIR (needs fnn[plot])"
    )
    if trains_with_fit:
        parser.add_argument("--progress", action="store_true", help="show fit's progress bar")
    if more is not None:
        more(parser)
    args = parser.parse_args(argv)
    # Say so before training, not after it.
    if args.out is not None and importlib.util.find_spec("matplotlib") is None:
        parser.error("--out needs matplotlib, an optional extra: pip install 'fnn[plot]'")
    return args


def figure_path(out: Path, name: str) -> Path:
    """``out / name``, creating the folder ``out`` if it does not exist."""
    out.mkdir(parents=True, exist_ok=True)
    return out / name


def epochs_and_rate(fast: bool, full: tuple[int, float], quick: tuple[int, float]):
    """``(epochs, learning rate)`` of this run: the ``full`` setting, or with ``--fast`` the
    ``quick`` one, announced on stdout so that its result is not mistaken for the full run's."""
    if not fast:
        return full
    print(f"fast run: {quick[0]:,} epochs at learning rate {quick[1]} "
          f"(the full run: {full[0]:,} at {full[1]})")  # fmt: skip
    return quick
