import sys

from dppmg.cli import main

sys.exit(main())
