"""``python -m reflectrl`` (and ``accelerate launch -m reflectrl``): the command line."""

from reflectrl.cli import main

main()
