import os
import sys

# `python -m monitor` puts the working directory first on sys.path; a folder there named like
# one of our packages (say, reports/ written by `slamon report --out reports`) would shadow it.
if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from monitor.cli import main  # noqa: E402

raise SystemExit(main())
