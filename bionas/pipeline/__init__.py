"""What the Snakemake workflow calls: config checking, run hooks, and config -> command flags.

``config`` (schema validation, defaults, typed ``--config`` overrides, the
checks that need more than the schema), ``locks`` (stale-lock clean-up after a
killed run) and ``flags`` (each config block -> the flags of its command). The
workflow holds no logic beyond paths; nothing here imports snakemake.
"""
