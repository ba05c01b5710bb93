"""``python -m hypergen.train [overrides]``: same as ``hypergen-train`` (see :mod:`hypergen.train.run`)."""

from hypergen.train.run import main

if __name__ == "__main__":
    main()
