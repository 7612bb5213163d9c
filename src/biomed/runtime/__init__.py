"""What every stage shares to run work: the executor section (local / Slurm / Ray) of the data stages' configs."""
