# Thin wrapper around CMake; see README.md.
BUILD ?= build
JOBS ?= 2

.PHONY: deps build demo test clean
deps:
	bash scripts/install_deps.sh
build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j$(JOBS)
demo: build
	bash scripts/demo.sh $(BUILD)
test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)
clean:
	rm -rf $(BUILD)
