"""Scale-out on Dask (``--cluster``): a host-sharded plan (`shards`, pure), the task a worker runs
(`worker`), connecting (`connect`) and the coordinator (`driver`)."""
