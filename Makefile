# Thin wrapper around CMake; see README.md.
BUILD ?= build
JOBS ?= 2
# Compile every CUDA kernel with nvcc (even against a CPU-only LibTorch) where nvcc is installed.
CUDA_CHECK ?= $(shell test -x /usr/local/cuda/bin/nvcc && echo ON || echo OFF)

.PHONY: deps build demo test clean
deps:
	bash scripts/install_deps.sh
build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DDEEPZINE_CUDA_COMPILE_CHECK=$(CUDA_CHECK)
	cmake --build $(BUILD) -j$(JOBS)
demo: build
	bash scripts/demo.sh $(BUILD)
test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)
clean:
	rm -rf $(BUILD)
