"""The ``rom`` command-line interface (click). Thin: parsing and printing only."""
