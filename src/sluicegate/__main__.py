"""``python -m sluicegate``: the command line, for when the ``sluicegate`` script is not on
PATH (and for subprocesses that must use the same interpreter)."""

from sluicegate.cli import main

if __name__ == "__main__":
    main()
