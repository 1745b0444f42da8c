import sys

from bionas.cli import main

sys.exit(main())
