"""The submission stage: package the best valid run as an MLPerf Inference submission.

`python -m bert_sweep.submit candidate.run_dir=<run> submitter=<org>` (options: conf/submit.yaml)
chooses a candidate (candidates), reruns it under the official rules in fresh loadgen processes
(run_config, rerun, progress), refuses what must not be packaged (gate), writes the tree of the
chosen checker version (system_desc, describe, tree; compliance for closed TEST01), validates it
with the checker's rules (rules, validate; checker runs the official one), and writes the
tarball and final-report summary (tarball, summary). Facts per checker version: versions.

Importing this package is cheap: nothing heavy is imported until a command runs.
"""
