"""``python -m sertk``: the same entry point as the ``sertk`` console script."""
from sertk.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
