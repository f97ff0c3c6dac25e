"""``python -m vfl``: the same as the ``vfl`` command."""

from vfl.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
