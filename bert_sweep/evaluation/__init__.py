"""Accuracy: loadgen accuracy log → logits → reference post-processing → SQuAD v1.1 EM/F1.

Import the submodules directly (`bert_sweep.evaluation.accuracy_log` etc.); this package stays
cheap to import.
"""
