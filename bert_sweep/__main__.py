import sys

from bert_sweep.cli import main

sys.exit(main())
