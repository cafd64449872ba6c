"""The floors the runtime fetch is measured against (docs/performance.md). Each module is a
bare Django project of its own (it configures settings on import): import only
bench.floors itself from the product's process."""

# The product floor's audit chain (bench/floors/product.py, seeded by bench/load.py): far from
# any deployment's id (a deployment's chain is its id), so its events never join one.
FLOOR_CHAIN = 10**15
