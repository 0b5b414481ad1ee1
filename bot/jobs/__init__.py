"""Background work of the core: a registry of periodic jobs, each run claimed in the database so
that with any number of replicas one runs a job at a time (see `claims`)."""
