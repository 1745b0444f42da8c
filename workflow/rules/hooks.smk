# Run hooks: stale locks of a killed run, the warm worker of local runs, and the
# exit status of a run stopped by SIGINT or SIGTERM (bionas/pipeline/interrupt.py).

# A run killed with SIGKILL leaves Snakemake's locks behind; clear them when
# every earlier run of this workflow in this directory is dead, so the same
# command resumes (bionas/pipeline/locks.py). A live run is never touched.
_RUN_RECORD = None
if workflow.is_main_process:
    from snakemake.logging import logger

    from bionas.pipeline.locks import clear_stale_locks, register_run, release_run

    if clear_stale_locks(".snakemake"):
        logger.warning("bionas: removed the locks of a killed earlier run; resuming")
    _RUN_RECORD = register_run(".snakemake")


# Local runs: one warm worker runs the TensorFlow jobs (bionas/worker.py); it
# ends with this Snakemake process even when that is killed.
_WORKER = None


onstart:
    global _WORKER
    from bionas.pipeline import interrupt

    interrupt.watch()  # SIGINT or SIGTERM: one line and 130 or 143 (onerror)
    if (
        config["training"]["warm_worker"]
        and workflow.local_exec
        and sys.platform == "linux"
    ):
        import os
        from bionas import worker

        _WORKER = worker.start("logs/worker.log")
        os.environ[worker.ENV] = _WORKER[1]


def _end_run():
    if _WORKER is not None:
        from bionas import worker

        worker.stop(*_WORKER)
    if _RUN_RECORD is not None:
        release_run(_RUN_RECORD)


onsuccess:
    _end_run()


onerror:
    _end_run()
    from bionas.pipeline import interrupt

    interrupt.exit_if_interrupted()
