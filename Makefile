# veet — the two commands most people need are `make run` and `make test`.
SHELL := /bin/bash
export GOFLAGS := -buildvcs=false
ADDR ?= 127.0.0.1:8080
NODES ?= 2
LAMBDAS := $(notdir $(wildcard lambdas/cmd/*))

.PHONY: run test bench lambdas generate spa local test-go test-cdk test-spa vet deploy

## run: the whole system on this machine; prints the URL to open.
run: spa local
	./build/veet-local -addr $(ADDR) -nodes $(NODES) -spa spa/dist

## test: every test (Go with a real redis-server, CDK synthesis, SPA unit and browser).
test: vet test-go test-cdk test-spa
	@echo "make test: all suites passed"

vet:
	@scripts/ensure-deps.sh redis
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.6.1 ./...

test-go:
	go test -p 2 -timeout 12m ./...

test-cdk:
	cd cdk && go vet ./... && go test -timeout 12m ./...

test-spa: spa local
	@scripts/ensure-deps.sh chromium spa
	cd spa && npm test

## bench: SFU load (publishers x subscribers) and signaling figures; prints tables (docs/benchmarks.md).
bench:
	@scripts/ensure-deps.sh redis
	go run ./sfu/cmd/loadgen -scenarios fanout=20,fanout=50,fanout=200,mesh=5
	go run ./sfu/cmd/loadgen -pin -scenarios fanout=20,fanout=50,fanout=200,mesh=5,capacity
	go test -run '^$$' -bench . -benchtime 20000x ./sfu/forward/...
	go test -run '^$$' -bench . -benchtime 5x ./lambdas/
	go test -run '^$$' -bench . -benchtime 300x ./localstack/

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
