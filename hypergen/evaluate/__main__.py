"""``python -m hypergen.evaluate [overrides]``: same as ``hypergen-eval`` (see :mod:`hypergen.evaluate.run`)."""

from hypergen.evaluate.run import main

if __name__ == "__main__":
    main()
