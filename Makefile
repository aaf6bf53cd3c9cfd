# Makefile: build, test, run and benchmark cnngpu. `make run` trains on real
# MNIST (fetched into the cache on first use); `make test` runs every test.

GO    ?= go
BIN   := bin/cnngpu
PKGS  := ./...

.PHONY: kernels build test test-onnx test-arm64 test-windows run data bench bench-cpu loadtest bench-gpu device-bundle lint clean

# The revision for `cnngpu --version` where go build does not stamp one
# (GOFLAGS=-buildvcs=false, a git worktree); "-dirty" with uncommitted changes.
REV := $(shell r=$$(git rev-parse HEAD 2>/dev/null) && { git diff --quiet HEAD || r=$$r-dirty; echo $$r; })
LDREV := -X main.vcsRevision=$(REV)

build:
	$(GO) build -ldflags '$(LDREV)' -o $(BIN) ./cmd/cnngpu

# The real-MNIST accuracy test needs the files in the cache, so fetch first.
# engine/cuda's emulated-device tests take about 9 minutes on a 2-core
# VM (551 s in CI's last run of 2026-12-05), more when it is shared: the
# timeout leaves room.
test: data
	@echo "go test prints a line per package as each ends, in order: the first (the CLI's) after about 10 minutes on 2 cores"
	$(GO) test -timeout 45m $(PKGS)

# ONNX export checked by ONNX Runtime (Node.js) against cnngpu predict on
# the 10,000 test images (installs onnxruntime-node into scripts/onnx-check).
test-onnx: data
	scripts/onnx-check.sh

# The CPU engine built for arm64 and tested under qemu-aarch64, for machines
# without an arm64 processor (Debian and Ubuntu: apt-get install
# qemu-user): the NEON code's tests (bit for bit against the portable
# code), SGEMM's, packing's, pooling's, the fused convolution's and the
# conformance suite with them (2 to 3 minutes on a 2-core VM; the whole package would
# take hours, qemu doing the float arithmetic in software). On an arm64
# machine `make test` runs every test natively.
ARM64_TESTS ?= NEON|Sgemm|Gemm|Pack|MaxPoolSameBits|ConvPoolBitForBit|Dot32|Conformance/neon/workers=3
test-arm64:
	@command -v qemu-aarch64 >/dev/null || { \
		echo "make test-arm64: no qemu-aarch64 here: install it (Debian, Ubuntu: apt-get install qemu-user), or run make test on an arm64 machine" >&2; exit 1; }
	mkdir -p bin
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) test -c -o bin/cpu-arm64.test ./engine/cpu
	cd engine/cpu && qemu-aarch64 ../../bin/cpu-arm64.test -test.run '$(ARM64_TESTS)' -test.timeout 30m

# The Windows build's own code (its file locks, its check of a process,
# its rename over a file held open) under Wine: the tests named Windows,
# in a Wine prefix of their own under bin/ that gets the stand-in
# bcryptprimitives.dll Wine 8 lacks (scripts/wine). Not part of make test.
WINE ?= $(shell command -v wine64 || echo /usr/lib/wine/wine64)
WINEPREFIX_TEST := $(CURDIR)/bin/wine/prefix
test-windows:
	@[ -x "$(WINE)" ] && command -v x86_64-w64-mingw32-gcc >/dev/null || { \
		echo "make test-windows: needs Wine and MinGW-w64 (Debian, Ubuntu: apt-get install wine64 gcc-mingw-w64-x86-64)" >&2; exit 1; }
	mkdir -p bin/wine
	[ -d $(WINEPREFIX_TEST)/drive_c/windows/system32 ] || WINEDEBUG=-all WINEPREFIX=$(WINEPREFIX_TEST) $(WINE) wineboot -i
	x86_64-w64-mingw32-gcc -shared -O1 -o $(WINEPREFIX_TEST)/drive_c/windows/system32/bcryptprimitives.dll scripts/wine/bcryptprimitives.c
	for p in internal/fileutil tune internal/shell; do \
		GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $(GO) test -c -o bin/wine/$$(basename $$p).test.exe ./$$p && \
		WINEDEBUG=-all WINEPREFIX=$(WINEPREFIX_TEST) $(WINE) bin/wine/$$(basename $$p).test.exe -test.run 'Windows|Writable|Permission' -test.v || exit 1; \
	done

# The main job: its checkpoint has a fixed name, which the README's
# commands use (a later `make run` replaces it; train alone names each run's
# checkpoint by its time).
run: build
	./$(BIN) train --out runs/model.safetensors

data: build
	./$(BIN) data fetch

# Layer and step benchmarks of the CPU engine, then the CLI benchmark.
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2s ./engine/cpu/
	./$(BIN) bench --cpu

# cnngpu's CPU engine against PyTorch on this machine, back to back.
bench-cpu: build
	scripts/bench-cpu.sh

# GPU 0 (fp32 and tf32, batch 64-512) against PyTorch on the same GPU.
bench-gpu: build
	scripts/bench-gpu.sh

# 10,000 requests at concurrency 32 against a running 'cnngpu serve' on
# 127.0.0.1:8080 (ADDR=host:port to change).
ADDR ?= 127.0.0.1:8080
loadtest:
	$(GO) run ./scripts/loadtest -url http://$(ADDR) -n 10000 -c 32

# Regenerate the embedded kernels from kernels/kernels.cu with the pinned
# toolkit: nvcc 11.8 (Debian 12's nvidia-cuda-toolkit, from non-free).
# kernels.fatbin is what cuda.Open loads: SASS for every architecture in
# SASS_ARCHS (Volta to Hopper; a GPU of the same major and a later minor,
# e.g. sm_87, runs the nearest below), loaded without a JIT, plus compute_60
# PTX that the driver compiles for the GPUs it has no SASS for (Pascal, and
# Blackwell or newer). kernels.ptx is that PTX on its own, for the emulator,
# the parameter tests and cuda.Open's check of the GPU against its .target
# line. The PTX is ISA 7.8, which drivers 520 and newer compile; a newer
# nvcc writes a newer ISA and silently raises the driver every user needs,
# so another version is refused (NVCC_VERSION=x.y to choose one knowingly,
# and update docs/gpu.md's requirements). compute_60 PTX runs on every GPU of
# compute capability 6.0 (Pascal) or newer: nothing in kernels.cu needs
# more, and cuda.Open refuses an older GPU in plain words. kernels.sum holds
# the SHA-256 of kernels.cu and of both outputs: the kernels tests fail,
# asking for `make kernels`, when kernels.cu changed since.
NVCC ?= nvcc
NVCC_VERSION ?= 11.8
SASS_ARCHS ?= 70 75 80 86 89 90
# Also prints each kernel's registers, shared memory and spills for sm_90
# (H100/H200): a kernel with many registers runs few blocks per SM.
kernels:
	@command -v $(NVCC) >/dev/null || { \
		echo "make kernels: no $(NVCC) here: it needs nvcc $(NVCC_VERSION) (Debian's nvidia-cuda-toolkit, from non-free; NVCC=path for another place). The generated kernels are committed: the build needs none of it." >&2; exit 1; }
	@$(NVCC) --version | grep -q "release $(NVCC_VERSION)," || { \
		echo "make kernels: nvcc $(NVCC_VERSION) is pinned (found: $$($(NVCC) --version | grep release)); a newer one raises the driver our PTX needs. NVCC_VERSION=x.y overrides." >&2; exit 1; }
	$(NVCC) -ptx -arch=compute_60 -O3 -o kernels/kernels.ptx kernels/kernels.cu
	$(NVCC) -fatbin -O3 $(foreach a,$(SASS_ARCHS),-gencode arch=compute_$(a),code=sm_$(a)) \
		-gencode arch=compute_60,code=compute_60 -o kernels/kernels.fatbin kernels/kernels.cu
	cd kernels && sha256sum kernels.cu kernels.ptx kernels.fatbin > kernels.sum
	$(NVCC) -cubin -arch=sm_90 -O3 --resource-usage -o /dev/null kernels/kernels.cu 2>&1 | grep -E "Compiling entry|Used|spill" | sed -e 's/ptxas info *: //'
	@ls -l kernels/kernels.ptx kernels/kernels.fatbin

# What scripts/device-check.sh needs on a GPU machine with no Go toolchain:
# the binary and the GPU test binaries, built here.
# Stripped (-s -w) so that all of it, with MNIST, fits the 64 MiB a device
# call carries.
device-bundle: data
	mkdir -p .device/mnist
	$(GO) build -ldflags='-s -w $(LDREV)' -o .device/cnngpu ./cmd/cnngpu
	$(GO) test -c -ldflags='-s -w' -o .device/cuda.test ./cuda
	$(GO) test -c -ldflags='-s -w' -o .device/enginecuda.test ./engine/cuda
	cp "$${XDG_CACHE_HOME:-$$HOME/.cache}"/cnngpu/mnist/*.gz .device/mnist/
	# Compressed to fit the device tool's 64 MiB carry limit with room for
	# an earlier build (AB=); scripts/device-check.sh unpacks them.
	cd .device && for f in cnngpu cuda.test enginecuda.test; do gzip -f -9 $$f; done
	# A dry run of the script here leaves unpacked copies, which would not
	# fit: an earlier build's is removed where its .gz is beside it.
	[ ! -e .device/cnngpu-old.gz ] || rm -f .device/cnngpu-old
	du -sh .device

# gofmt, go vet (here, and for macOS and arm64 Linux without cgo, so that
# code or a test written for Linux on x86-64 alone is caught; Windows gets
# a build of the code, and a vet of the packages whose tests build there:
# the others' are Unix's), staticcheck,
# and go.mod/go.sum as `go mod tidy` leaves them (a requirement used
# directly but marked indirect, or one no longer used, fails here: run `go
# mod tidy`).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit the result"; exit 1; }
	$(GO) vet $(PKGS)
	GOOS=darwin GOARCH=arm64 CGO_ENABLED=0 $(GO) vet $(PKGS)
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) vet $(PKGS)
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $(GO) build $(PKGS)
	GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $(GO) vet ./internal/fileutil ./tune
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)

clean:
	rm -rf bin .device
