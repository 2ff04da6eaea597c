"""`python -m chatops ...`: the `chatops` command, for whoever calls a virtualenv's interpreter."""

from .cli import main

raise SystemExit(main())
