import sys

from mitolib.cli import main

sys.exit(main())
