.PHONY: run test bench-ring
# Installs what is needed, builds, and runs `stratus up` (data in .stratus/).
run:
	scripts/run.sh
# Installs what is needed and runs formatting, lints and every test.
test:
	scripts/test.sh
# Stratus vs OpenStack swift-ring-builder, same ring, one run.
bench-ring:
	bench/ring-vs-swift.sh
