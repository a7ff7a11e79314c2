"""MLflow tracking of runs and sweeps, wired in through a Hydra callback (conf/tracking/).

One MLflow run per Hydra job; a sweep (`-m`, grid or Optuna) gets a parent run keyed on its sweep
folder, with the jobs nested under it. Everything recorded comes from the job's results.json and
run folder, so tracking never reaches into the task code. Modules:

- `settings`: the callback's config (store URI, experiment), its checks, the default sqlite store.
- `record`: results.json → MLflow params, metrics, tags (pure functions, no MLflow import).
- `store`: the MLflow client side: store creation, experiments, parent lookup, batched logging.
- `callback`: the Hydra callback (`MlflowTrackingCallback`).
- `ui`: start/stop the MLflow UI on a store (`python -m bert_sweep.tracking.ui`).
"""
