# veet — the two commands most people need are `make run` and `make test`.
SHELL := /bin/bash
export GOFLAGS := -buildvcs=false
ADDR ?= 127.0.0.1:8080
NODES ?= 2
LAMBDAS := $(notdir $(wildcard lambdas/cmd/*))

.PHONY: run test bench fuzz lambdas generate spa local test-go test-fuzz test-cdk test-spa vet deploy

## run: the whole system on this machine; prints the URL to open.
run: spa local
	./build/veet-local -addr $(ADDR) -nodes $(NODES) -spa spa/dist

## test: every test (Go with a real redis-server, fuzz smoke, CDK synthesis, SPA unit and browser).
test: vet test-go test-fuzz test-cdk test-spa
	@echo "make test: all suites passed"

vet:
	@scripts/ensure-deps.sh redis
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.6.1 ./...

test-go:
	go test -p 2 -timeout 12m ./...

# Every fuzz target (package:Target); each has a seed corpus in testdata/fuzz/
# beside it, which test-go runs as plain tests.
FUZZ_TARGETS := ./events:FuzzDecodeClient ./events:FuzzDecodeCommand ./internal/token:FuzzVerify \
  ./localstack/gateway:FuzzReadFrames ./localstack/gateway:FuzzRouteSelection \
  ./lambdas:FuzzSDPCheck ./lambdas:FuzzNodeSetRemoteDescription
FUZZTIME ?= 1m

## test-fuzz: every fuzz target for 3 s beyond its seeds (make fuzz for longer).
test-fuzz:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=3s

## fuzz: every fuzz target for FUZZTIME each (default 1m); a failure's input lands in testdata/fuzz.
fuzz:
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
	  out=$$(go test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg 2>&1) || { echo "$$out"; exit 1; }; \
	  echo "$$fn: $$(echo "$$out" | grep -o 'execs: [0-9]*' | tail -1) in $(FUZZTIME)"; \
	done

test-cdk:
	cd cdk && go vet ./... && go test -timeout 12m ./...

test-spa: spa local
	@scripts/ensure-deps.sh chromium spa
	cd spa && npm test

## bench: SFU load (publishers x subscribers), signaling figures and the flood of issue 12; prints tables (docs/benchmarks.md).
bench:
	@scripts/ensure-deps.sh redis
	go run ./sfu/cmd/loadgen
	go test -run '^$$' -bench . -benchtime 5x ./lambdas/
	go test -run '^$$' -bench . -skip StackFlood -benchtime 300x ./localstack/
	go test -run '^$$' -bench StackFlood -benchtime 1x ./localstack/

## lambdas: one bootstrap per function for provided.al2023 on arm64.
lambdas:
	@for f in $(LAMBDAS); do \
	  echo "build/lambdas/$$f/bootstrap"; \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags=-s \
	    -o build/lambdas/$$f/bootstrap ./lambdas/cmd/$$f || exit 1; \
	done

## deploy: the AWS deployment (docs/deploy.md); needs AWS credentials and Docker.
deploy: lambdas spa
	cd cdk && npx aws-cdk deploy --all

## generate: the SPA's TypeScript protocol types from package events.
generate:
	go run ./events/cmd/tsgen -o spa/src/client/protocol.ts

spa:
	@scripts/ensure-deps.sh spa
	cd spa && npm run build

local:
	go build -o build/veet-local ./localstack/cmd/veet-local
