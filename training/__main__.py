"""``python -m aistem.training simulate …``: the simulator's commands without the ``aistem`` dispatcher."""

import sys

from .commands import main

sys.exit(main())
