# vitprobe: thin targets over go and scripts/. `make demo` and `make test`
# run the set-up first, so these two commands are the whole set-up.
GO      ?= go
GOLANGCI ?= $(shell $(GO) env GOPATH)/bin/golangci-lint
OUT     ?= demo-out
# PURE: the packages that need no libtorch. `make test` builds and tests
# them with CGO_ENABLED=0 (they must never import gotch or torchx) and
# under the race detector.
PURE    ?= ./data ./hessian/... ./fourier/... ./landscape/... ./findings/... ./reports/... ./safetensors/... \
           ./results/... ./errs/... ./models/meta ./internal/atomicfile ./internal/cli ./internal/journal \
           ./internal/mem ./internal/progress ./internal/prov ./internal/shard ./internal/testdep ./cmd/report

.PHONY: setup demo test lint vet bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh $(OUT)

test: setup vet lint
	CGO_ENABLED=0 $(GO) test -count=1 $(PURE)
	$(GO) test -race -count=1 $(PURE)
	$(GO) test -count=1 -timeout 40m ./...

vet:
	$(GO) vet ./...

lint:
	$(GOLANGCI) run --allow-parallel-runners ./...

bench: setup
	@bash scripts/bench.sh

clean:
	rm -rf $(OUT) third_party/gotch
