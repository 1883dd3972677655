# The two set-up commands of the README: `make run` and `make test`. Both install what is missing,
# then build (Release) into $(BUILD_DIR).
BUILD_DIR ?= build
JOBS ?= 2
CONFIG ?= config/dev.yaml

.PHONY: all deps build run test bench clean

all: build

deps:
	@deploy/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	@deploy/dev-run.sh $(BUILD_DIR) $(CONFIG)

test: build
	@tests/run-all.sh $(BUILD_DIR)

bench: build
	@bench/run.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR)
