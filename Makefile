# vitprobe: thin targets over go and scripts/. `make demo` and `make test`
# run the set-up first, so these two commands are the whole set-up.
GO      ?= go
GOLANGCI ?= $(shell $(GO) env GOPATH)/bin/golangci-lint
OUT     ?= demo-out

.PHONY: setup demo test lint vet bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh $(OUT)

test: setup vet lint
	$(GO) test -count=1 -timeout 40m ./...

vet:
	$(GO) vet ./...

lint:
	$(GOLANGCI) run --allow-parallel-runners ./...

bench: setup
	@bash scripts/bench.sh

clean:
	rm -rf $(OUT) third_party/gotch
