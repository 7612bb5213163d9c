.PHONY: quality style test bench shared-pmc slurm slurm-stop

quality:
	ruff check src tests bench
	ruff format --check src tests bench

style:
	ruff check --fix src tests bench
	ruff format src tests bench

test:
	python -m pytest

bench:
	python bench/extract.py

# the real JATS articles some tests read from ../shared/pmc (see tests/README.md)
shared-pmc:
	python tests/fetch_shared_pmc.py

# a single-node Slurm cluster on this machine for the tests marked `slurm` (needs root; installs Debian's packages)
slurm:
	scripts/slurm-cluster.sh install
	scripts/slurm-cluster.sh start

slurm-stop:
	scripts/slurm-cluster.sh stop
