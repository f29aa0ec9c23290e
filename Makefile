# vitprobe: thin targets over go and scripts/. `make demo` and `make test`
# do their own set-up first, so each is the whole set-up for what it runs:
# `make demo` installs only what the demo needs (scripts/setup.sh demo),
# `make test` every test dependency too (scripts/setup.sh test).
SHELL   := /bin/bash
GO      ?= go
GOLANGCI ?= $(shell $(GO) env GOPATH)/bin/golangci-lint
OUT     ?= demo-out
# PURE: the packages that need no libtorch. `make test` builds and tests
# them with CGO_ENABLED=0 (they must never import gotch or torchx) and
# under the race detector.
PURE    ?= ./buildup ./cka ./data ./hessian/... ./fourier/... ./landscape/... ./findings/... ./reports/... ./safetensors/... \
           ./results/... ./errs/... ./models/meta ./models/pattern ./trajectory ./internal/atomicfile ./internal/cli ./internal/journal \
           ./internal/mem ./internal/progress ./internal/prov ./internal/shard ./internal/testdep ./cmd/report
STUDY_OUT ?= study-out

.PHONY: setup setup-demo demo study test gotest lint vet bench clean

setup:
	@bash scripts/setup.sh test

setup-demo:
	@bash scripts/setup.sh demo

demo: setup-demo
	@bash scripts/demo.sh $(OUT)

# The study: three seeds per model, the paper's protocol, verdicts pooled
# over seeds (scripts/study.sh; at most an hour on two idle cores).
# STUDY_TINY=1 make study runs it at a toy size into study-tiny-out.
study: setup-demo
	@bash scripts/study.sh $(if $(filter 1,$(STUDY_TINY)),study-tiny-out,$(STUDY_OUT))

# The tests print as `go test` does and end with one line per skipped test
# and its reason (scripts/testreport). Under CI=true (or
# VITPROBE_REQUIRE_ALL=1) a test that misses a dependency fails instead.
# The pure packages are first built and tested without cgo and under the
# race detector.
test: setup vet lint gotest

gotest:
	CGO_ENABLED=0 $(GO) test -count=1 $(PURE)
	$(GO) test -race -count=1 $(PURE)
	set -o pipefail; $(GO) test -count=1 -timeout 40m -json ./... | $(GO) run ./scripts/testreport

vet:
	$(GO) vet ./...

lint:
	$(GOLANGCI) run --allow-parallel-runners ./...

bench: setup
	@bash scripts/bench.sh

clean:
	rm -rf $(OUT) $(STUDY_OUT) study-tiny-out third_party/gotch
