# CUDA language for the kernels in src/ops: sm_90 (H100/H200) machine code plus compute_90 PTX so
# newer GPUs JIT it. Override with -DCMAKE_CUDA_ARCHITECTURES=... (e.g. "80-real;90-real;90-virtual").
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
if(NOT CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES "90-real;90-virtual")
endif()
# Share LibTorch's CUDA runtime (one runtime per process: streams and contexts are the same objects).
set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
enable_language(CUDA)
message(STATUS "deepzine: CUDA kernels for ${CMAKE_CUDA_ARCHITECTURES} with ${CMAKE_CUDA_COMPILER} "
               "${CMAKE_CUDA_COMPILER_VERSION}")
