"""Benchmarks of the mesh; each prints its figures. Run one as a module from the repository root:
`python -m bench.bench_e2e --help` (see bench/README.md)."""
