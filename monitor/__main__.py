import os
import sys

if __name__ == "__main__":  # probe worker processes (spawn) import this module again as __mp_main__
    # `python -m monitor` puts the working directory first on sys.path; a folder there named like
    # one of our packages (say, reports/ written by `slamon report --out reports`) would shadow it.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]

    from monitor.cli import main

    raise SystemExit(main())
