"""`hydra/sweeper=bert_optuna`: the Hydra Sweeper plugin class and its ConfigStore entry.

Hydra instantiates sweepers only from the `hydra_plugins` namespace and imports every module in
it at start-up, so this module stays thin and cheap: the logic (and Optuna) lives in
bert_sweep.search.sweeper and is imported when a search actually starts.
"""

from __future__ import annotations

from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from bert_sweep.search.config import BertOptunaSweeperConf


class BertOptunaSweeper(Sweeper):
    """Accuracy-constrained Optuna search (see bert_sweep.search.sweeper)."""

    def __init__(self, **settings: Any) -> None:
        from bert_sweep.search.sweeper import SearchSweeper

        self._impl = SearchSweeper(**settings)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self._impl.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        """Run the search. Nothing exits here (Hydra would skip its end-of-run callbacks and print
        a traceback): the outcome is stored for bert_sweep.cli.main, which maps it to the exit
        code (2 for a BertSweepError, 1 for a crash, with the traceback in the sweep dir)."""
        from bert_sweep import exits
        from bert_sweep.errors import BertSweepError

        try:
            return self._impl.sweep(arguments)
        except BertSweepError as exc:
            exits.set_status(exits.EXIT_USAGE, " ".join(str(exc).split()))
        except Exception as exc:
            exits.set_status(exits.EXIT_CRASH, self._impl.crash_report(exc))
        return None


ConfigStore.instance().store(
    group="hydra/sweeper", name="bert_optuna", node=BertOptunaSweeperConf, provider="bert_sweep"
)
