import sys

from ecalib.cli import main

sys.exit(main())
