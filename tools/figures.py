"""Shared pieces of the figure tools: a headless matplotlib, atomic saving, one-line errors."""
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


class InputError(Exception):
    """Bad input the user can fix: printed as one line, exit code 2."""


def save_atomic(fig, out_path):
    """Saves `fig` to a temporary name and renames it to `out_path` when complete."""
    fmt = os.path.splitext(out_path)[1].lstrip(".") or "png"
    tmp = f"{out_path}.tmp.{os.getpid()}"
    try:
        fig.savefig(tmp, format=fmt, dpi=120)
        os.replace(tmp, out_path)
    except (OSError, ValueError) as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise InputError(f"cannot write {out_path}: {e}") from e
    finally:
        plt.close(fig)


def run_cli(main):
    """Runs main(sys.argv); an InputError becomes '<tool>: error: ...' and exit code 2."""
    try:
        main(sys.argv)
    except InputError as e:
        print(f"{os.path.basename(sys.argv[0])}: error: {e}", file=sys.stderr)
        sys.exit(2)
