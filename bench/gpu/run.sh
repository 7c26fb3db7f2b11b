#!/usr/bin/env bash
# The GPU run (issue 20) on a machine with no Node.js: unpacks bench/gpu/bundle (made here by
# `node bench/gpu/pack.mjs`) into a scratch folder, installs the Vulkan loader if the machine
# lacks one, and runs bench/gpu/gpu-run.mjs with the carried node. Figures go to
# $OUT/gpu.json when OUT is set (the device tool's folder), else bench/results/gpu.json.
#   GPU_PROVIDER=webgpu|cuda|cpu (default webgpu)   GPU_QUICK=1: the small smoke run
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
bundle="$repo/bench/gpu/bundle"
work="${GPU_WORK_DIR:-/tmp/tessera-gpu-run}"
[ -f "$bundle/node.xz" ] || { echo "no bundle in $bundle: run node bench/gpu/pack.mjs first" >&2; exit 1; }

rm -rf "$work" && mkdir -p "$work/bin" "$work/bench" "$work/infra/scripts"
xz -dc "$bundle/node.xz" > "$work/bin/node" && chmod +x "$work/bin/node"
tar -xJf "$bundle/runtime.tar.xz" -C "$work"
# The scripts beside the packages they import: node resolves @tessera/engine from $work/node_modules.
cp -r "$repo/bench/gpu" "$repo/bench/lib" "$work/bench/" && rm -rf "$work/bench/gpu/bundle"
cp -r "$repo/infra/scripts/lib" "$work/infra/scripts/"

# WebGPU is Dawn over Vulkan: it needs libvulkan.so.1 and the GPU driver's Vulkan ICD.
if ! ldconfig -p | grep -q 'libvulkan.so.1' && [ "$(id -u)" = 0 ]; then
  for deb in "$bundle"/vulkan/*.deb; do [ -f "$deb" ] && dpkg -x "$deb" /; done
  ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nvidia_icd" ] && export VK_DRIVER_FILES="$nvidia_icd"
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

out="${OUT:-$repo/bench/results}"
GPU_OUT="$out/gpu.json" timeout "${GPU_TIMEOUT_S:-540}" "$work/bin/node" "$work/bench/gpu/gpu-run.mjs"
