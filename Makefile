# AIAS — the two commands a new user needs are `make dev` and `make test`.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

BIN            := $(CURDIR)/bin
CONTROLLER_GEN := $(BIN)/controller-gen
STATICCHECK    := $(BIN)/staticcheck
GO_TEST_FLAGS  ?= -count=1 -timeout=30m

.PHONY: help
help: ## List the targets.
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-18s %s\n", $$1, $$2}'

##@ Everyday

.PHONY: test
test: verify-generated vet lint envtest node ## Check generated files, vet, lint, then run every test (envtest control plane; a real node for internal/testrig/realnode).
	@echo "==> go test ./... (but internal/testsuite/noisy)"
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" AIAS_NODE_ASSETS="$$(hack/node.sh)" go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v '/internal/testsuite/noisy$$')
	@echo "==> go test ./internal/testsuite/noisy, alone: it compares latencies, which another package's tests on the same cores would skew"
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" go test $(GO_TEST_FLAGS) ./internal/testsuite/noisy
	@echo "==> running every fuzz target briefly (make fuzz for longer)"
	hack/fuzz.sh $(FUZZ_BRIEF)

# test-unit builds with -tags nodev, as the image does: it leaves `aias dev` out of package
# cli, whose envtest would otherwise link a control-plane harness into cli's tests.
.PHONY: test-unit
test-unit: ## Run the tests that start no processes (no control plane, PostgreSQL, node or browser; hack/unitpackages finds the packages): ~20 s warm on 2 cores (35 s while they are busy).
	go test -tags=nodev $(GO_TEST_FLAGS) $$(go run ./hack/unitpackages -tags=nodev)

# Fuzz budgets are execution counts, not durations: Go's fuzz coordinator can report a
# spurious "context deadline exceeded" when a duration runs out (golang/go#75804).
FUZZ_BRIEF ?= 20000x
FUZZ_LONG ?= 2000000x

.PHONY: fuzz
fuzz: ## Run every fuzz target (hack/fuzz.sh finds them: webhook signatures, step API logs and artifacts) for FUZZ_LONG executions each.
	hack/fuzz.sh $(FUZZ_LONG)

.PHONY: dev
dev: envtest build ## Run AIAS locally: control plane, PostgreSQL, manager, step API, dev kubelet, samples (Ctrl-C stops all).
	$(BIN)/aias dev

.PHONY: build
build: ## Build bin/aias (and bin/kubectl-aias, the same binary as a kubectl plugin).
	CGO_ENABLED=0 go build -trimpath -o $(BIN)/aias ./cmd/aias
	ln -sf aias $(BIN)/kubectl-aias

##@ Code generation

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code for api/.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs, RBAC and the admission webhook configuration from markers, and copy them into the Helm chart.
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=aias-manager paths="./controllers/...;./internal/manager/..." output:rbac:artifacts:config=config/rbac
	$(CONTROLLER_GEN) rbac:roleName=aias-webhookserver paths=./webhookserver/... output:rbac:artifacts:config=config/webhookserver
	$(CONTROLLER_GEN) webhook paths=./controllers/... output:webhook:artifacts:config=config/webhook
	rm -f charts/aias/crds/*.yaml && cp config/crd/bases/*.yaml charts/aias/crds/
	sed -n '/^rules:/,$$p' config/rbac/role.yaml > charts/aias/files/manager-rules.yaml
	sed -n '/^rules:/,$$p' config/webhookserver/role.yaml > charts/aias/files/webhookserver-rules.yaml

.PHONY: verify-generated
verify-generated: generate manifests ## Fail when committed generated files differ from a fresh generate+manifests.
	@if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then echo "not a git checkout: skipping the generated-files check"; exit 0; fi; \
	changed=$$(git status --porcelain -- api config charts); \
	if [ -n "$$changed" ]; then \
	  echo "generated files are stale; run 'make generate manifests' and commit:"; echo "$$changed"; \
	  git --no-pager diff --stat -- api config charts; exit 1; \
	fi; echo "==> generated files are current"

##@ Checks

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: lint
lint: $(STATICCHECK) ## gofmt and staticcheck (built from its pinned module).
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*')); \
	if [ -n "$$bad" ]; then echo "gofmt would change: $$bad"; exit 1; fi
	$(STATICCHECK) ./...

##@ Tools (built from pinned Go modules; nothing is downloaded from release sites)

.PHONY: node
node: ## Install containerd, runc, CNI plugins (Debian) and build kubelet + kube-proxy v1.34 into ~/.cache/aias, for the real-node tests (cold: ~8 min; warm: seconds).
	@hack/node.sh >/dev/null

.PHONY: envtest
envtest: ## Build kube-apiserver, etcd and kubectl for envtest into ~/.cache/aias (cold: ~20 min on 2 cores; warm: seconds).
	@hack/envtest.sh >/dev/null

.PHONY: tools
tools: $(CONTROLLER_GEN) $(STATICCHECK) ## Build controller-gen and staticcheck into bin/.

$(CONTROLLER_GEN): hack/tools/go.mod hack/tools/go.sum
	@echo "==> building controller-gen"
	cd hack/tools && go build -o $@ sigs.k8s.io/controller-tools/cmd/controller-gen

$(STATICCHECK): hack/tools/go.mod hack/tools/go.sum
	@echo "==> building staticcheck"
	cd hack/tools && go build -o $@ honnef.co/go/tools/cmd/staticcheck

##@ Benchmarks

.PHONY: bench
bench: envtest node ## Measure against same-run ceilings (PostgreSQL, the control plane, a real node) and write BENCHMARKS.md.
	KUBEBUILDER_ASSETS="$$(hack/envtest.sh)" AIAS_NODE_ASSETS="$$(hack/node.sh)" go run ./hack/bench
