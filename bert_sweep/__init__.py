"""bert_sweep: sweep and optimize the MLPerf Inference BERT benchmark.

Data path, one subpackage per stage:
config → assets → features → backends → harness → evaluation → report
(→ tracking → search → submission)
"""

__version__ = "0.1.0"
