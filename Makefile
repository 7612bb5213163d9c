.PHONY: quality style test bench shared-pmc

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
