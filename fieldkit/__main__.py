"""`python -m fieldkit` is the `fieldkit` command."""
from .cli import main

main()
