import sys

from taxi_etl.cli import main

sys.exit(main())
