import sys

from scripts.launch.cli import main

sys.exit(main())
