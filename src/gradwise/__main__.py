"""`python -m gradwise` is the `gradwise` command."""
import sys

from gradwise.cli.main import main

sys.exit(main())
