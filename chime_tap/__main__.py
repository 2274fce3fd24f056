import sys

from chime_tap.cli import main

sys.exit(main())
