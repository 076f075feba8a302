"""Parallel, resumable execution of many runs (sweeps, studies, evaluations).

>>> from analyzers.runs import Task, RunOptions, run_tasks
>>> run_tasks([Task("builtins:dict", {"x": 1})], RunOptions(jobs=1, progress="off"))
[{'x': 1}]
"""

from .cache import ResultCache
from .executor import RunError, RunOptions, default_jobs, run_tasks
from .options import add_run_arguments, interrupted_message, options_from_args
from .tasks import Task, call_task, canonical_json, code_fingerprint

__all__ = ["Task", "RunOptions", "RunError", "ResultCache", "run_tasks", "default_jobs", "call_task", "canonical_json",
           "code_fingerprint", "add_run_arguments", "options_from_args",
           "interrupted_message"]
