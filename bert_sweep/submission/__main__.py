"""`python -m bert_sweep.submission`: same as `python -m bert_sweep.submit`."""

import sys

from bert_sweep.submission.cli import main

sys.exit(main())
