"""Out-of-process backends: any engine in a worker process, batches through shared memory.

client.py is the parent side (start, requests, death reports), worker.py the worker side
(stdlib + numpy only, runnable by path under another interpreter), backend.py the
`backend.isolated=true` wrapper that the harness puts around any backend.
"""
