import sys

from paysys_tools.stub.server import main

sys.exit(main())
