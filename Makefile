.PHONY: quality style test bench

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
