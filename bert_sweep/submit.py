"""`python -m bert_sweep.submit [overrides]`: package the best valid run as an MLPerf submission.

A thin entry point; the stage lives in bert_sweep/submission/ (see its package docstring) and its
options in conf/submit.yaml.
"""

import sys

from bert_sweep.submission.cli import main

if __name__ == "__main__":
    sys.exit(main())
