# Makefile: build, test, run and benchmark cnngpu. `make run` trains on real
# MNIST (fetched into the cache on first use); `make test` runs every test.

GO    ?= go
BIN   := bin/cnngpu
PKGS  := ./...

.PHONY: build test run data bench bench-cpu lint clean

build:
	$(GO) build -o $(BIN) ./cmd/cnngpu

# The real-MNIST accuracy test needs the files in the cache, so fetch first.
test: data
	$(GO) test -timeout 20m $(PKGS)

run: build
	./$(BIN) train

data: build
	./$(BIN) data fetch

# Layer and step benchmarks of the CPU engine, then the CLI benchmark.
bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2s ./engine/cpu/
	./$(BIN) bench --cpu

# cnngpu's CPU engine against PyTorch on this machine, back to back.
bench-cpu: build
	scripts/bench-cpu.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

clean:
	rm -rf bin
