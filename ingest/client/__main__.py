import sys

from ingest.client.command import main

sys.exit(main())
