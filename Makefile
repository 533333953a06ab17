# veet — the two commands most people need are `make run` and `make test`.
SHELL := /bin/bash
export GOFLAGS := -buildvcs=false
ADDR ?= 127.0.0.1:8080
NODES ?= 2
REGIONS ?= 1
LAMBDAS := $(notdir $(wildcard lambdas/cmd/*))

.PHONY: run test test-race bench bench-livekit chaos pictures fuzz lambdas generate spa local test-go test-fuzz test-cdk test-spa vet deploy cdk-cli

## run: the whole system on this machine; prints the URL to open.
run: spa local
	./build/veet-local -addr $(ADDR) -nodes $(NODES) -regions $(REGIONS) -spa spa/dist -token-key-file build/token.key

## test: every test (Go with a real redis-server, fuzz smoke, CDK synthesis, SPA unit and browser).
test: vet test-go test-fuzz test-cdk test-spa
	@echo "make test: all suites passed"

vet:
	@scripts/ensure-deps.sh redis
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.6.1 ./...

test-go:
	@scripts/ensure-deps.sh netns
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
	  run() { go test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg 2>&1; }; \
	  out=$$(run) || { \
	    case "$$out" in *"Failing input written"*) echo "$$out"; exit 1;; esac; \
	    echo "$$fn: the fuzz engine failed without a failing input (Go's coordinator can end a short run with \"context deadline exceeded\"); once more:"; \
	    out=$$(run) || { echo "$$out"; exit 1; }; }; \
	  echo "$$fn: $$(echo "$$out" | grep -o 'execs: [0-9]*' | tail -1) in $(FUZZTIME)"; \
	done

test-cdk:
	@command -v cfn-lint >/dev/null || echo "test-cdk: cfn-lint not on PATH, the templates go unlinted (CI=true fails): pip install cfn-lint==1.51.0"
	cd cdk && go vet ./... && go test -timeout 12m ./...

## pictures: the README's pictures (docs/*.png), taken by the browser tests.
pictures: spa local
	@scripts/ensure-deps.sh chromium spa
	cd spa && SCREENSHOTS_DIR=../docs npm run test:e2e

test-spa: spa local
	@scripts/ensure-deps.sh chromium spa
	cd spa && npm test

## bench: SFU load (publishers x subscribers, simulcast, a constrained subscriber, the bare-relay floor), signaling figures, the flood of issue 12 and the large meetings of issue 11; prints tables (docs/benchmarks.md).
bench:
	@scripts/ensure-deps.sh redis
	go run ./sfu/cmd/loadgen -scenarios fanout=20,fanout=50,fanout=200,mesh=5,simulcast=60
	go run ./sfu/cmd/loadgen -pin -scenarios fanout=20,fanout=50,fanout=200,mesh=5,capacity
	@echo "the floor under those figures: a bare relay (SRTP seal and sendmmsg, nothing else), pinned the same way:"
	go run ./bench/relay -subs 20,50,200,500 -mesh 5
	go test -run '^$$' -bench . -benchtime 20000x ./sfu/forward/...
	@echo "constrained subscriber (600 kbit/s, then 10 Mbit/s; needs root for its network namespace):"
	@scripts/ensure-deps.sh netns
	@bash -o pipefail -c "go test -count=1 -run '^TestRedisNetnsConstrainedSubscriber$$' -v ./sfu/ | grep -E 'kbit/s|settled|link widened|SKIP|FAIL'"
	go test -run '^$$' -bench . -benchtime 5x ./lambdas/
	go test -run '^$$' -bench . -skip StackFlood -benchtime 300x ./localstack/
	go test -run '^$$' -bench StackFlood -benchtime 1x ./localstack/
	go test -run '^$$' -bench Crowd -benchtime 1x -timeout 20m ./crowd/

## test-race: the packages with concurrency under the race detector (about 6 minutes; not part of make test, to keep it short).
test-race:
	@scripts/ensure-deps.sh netns
	go test -race -p 1 -timeout 20m ./sfu/... ./localstack/... ./lambdas/... ./internal/... ./events/...

## bench-livekit: livekit-server v1.13.5 in the same rooms, pinned the same way (bench/livekit; docs/benchmarks.md).
bench-livekit:
	cd bench/livekit && GOBIN=$(CURDIR)/bench/livekit/bin go install github.com/livekit/livekit-server/cmd/server@v1.13.5
	cd bench/livekit && go build -o bin/lkload . && ./run.sh

## chaos: every fault (node killed, stopped, drained; Redis cut off or emptied;
## the stack restarted) RUNS times on real processes; prints the table (docs/benchmarks.md).
RUNS ?= 5
chaos:
	@scripts/ensure-deps.sh redis
	CHAOS_RUNS=$(RUNS) go test -count=1 -run '^TestChaos$$' -timeout 90m -v ./chaos/ | grep -v '^=== \|^    --- \|^--- '

## lambdas: one bootstrap per function for provided.al2023 on arm64.
lambdas:
	@for f in $(LAMBDAS); do \
	  echo "build/lambdas/$$f/bootstrap"; \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -ldflags=-s \
	    -o build/lambdas/$$f/bootstrap ./lambdas/cmd/$$f || exit 1; \
	done

## deploy: the AWS deployment (docs/deploy.md); needs AWS credentials and Docker.
## It asks before security-broadening changes; APPROVE=never deploys without a prompt.
APPROVE ?= broadening
deploy: lambdas spa cdk-cli
	cd cdk && PATH="$$PWD/node_modules/.bin:$$PATH" cdk deploy --all --require-approval $(APPROVE)

## cdk-cli: the CDK CLI pinned in cdk/package.json, and the Node it needs:
## Node 22 (20 is past its end of life for the CDK), put in cdk/node_modules
## when the machine's is older. Then `cd cdk && npx cdk <command>` uses both.
CDK_NODE := 22.23.3
cdk-cli:
	@command -v npm >/dev/null || { echo "cdk-cli: Node.js 22+ and npm are needed (apt-get install -y nodejs npm, then make cdk-cli)" >&2; exit 1; }
	@if [ ! -f cdk/node_modules/.package-lock.json ] || [ cdk/package-lock.json -nt cdk/node_modules/.package-lock.json ]; then \
	  cd cdk && npm ci --no-audit --no-fund --loglevel=error; fi
	@if [ "$$(node -p 'process.versions.node.split(".")[0]')" -lt 22 ] && [ ! -x cdk/node_modules/.bin/node ]; then \
	  echo "cdk-cli: node $$(node --version) is past its end of life for the CDK; installing node $(CDK_NODE) into cdk/node_modules"; \
	  cd cdk && npm install --no-save --no-audit --no-fund --loglevel=error node@$(CDK_NODE); fi
	@cd cdk && PATH="$$PWD/node_modules/.bin:$$PATH" && echo "cdk-cli: aws-cdk $$(cdk --version) on node $$(node --version)"

## generate: the SPA's TypeScript protocol types from package events.
generate:
	go run ./events/cmd/tsgen -o spa/src/client/protocol.ts

spa:
	@scripts/ensure-deps.sh spa
	cd spa && npm run build

local:
	go build -o build/veet-local ./localstack/cmd/veet-local
