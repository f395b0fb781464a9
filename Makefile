# Hotline. `make test` is what CI runs (see README.md); `make interop` needs sipp.
MOD   := $(shell go list -m)
DEPS   = go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}'
BIN   := bin/hotline
GOTEST_FLAGS ?=

.PHONY: build run test vet fmtcheck depcheck interop load freeze-load bench prompts clean

build:
	go build -o $(BIN) ./cmd/hotline

run: build
	./$(BIN) serve

# Unit, fuzz-seed and end-to-end tests with the race detector, plus vet, gofmt and the
# package arrows of STYLE.md.
test: fmtcheck vet depcheck
	go test -race -count=1 -parallel 8 $(GOTEST_FLAGS) ./...

vet:
	go vet ./...

fmtcheck:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# STYLE.md P1-P6: a wrong import fails the build.
depcheck:
	@! $(DEPS) ./menus/... | grep -v '$(MOD)/menus' | grep . || { echo "depcheck: menus imports outside stdlib"; exit 1; }
	@! $(DEPS) ./queue | grep -v '$(MOD)/queue' | grep . || { echo "depcheck: queue imports outside stdlib"; exit 1; }
	@! go list -deps ./menus/... ./queue | grep -E '^net(/|$$)' || { echo "depcheck: menus/queue import net"; exit 1; }
	@! $(DEPS) ./media/... | grep -E 'sipgo|$(MOD)/(sip|ivr|menus|queue)' || { echo "depcheck: media imports SIP or project packages"; exit 1; }
	@! $(DEPS) ./sip/... | grep -E 'pion|$(MOD)/(media|ivr|menus|queue)' || { echo "depcheck: sip imports media/pion or project packages"; exit 1; }
	@! go list -deps ./ivr/... ./media/... ./sip/... ./menus/... ./queue/... | grep -E 'spf13/viper' || { echo "depcheck: only cmd may import viper"; exit 1; }
	@echo "depcheck: ok"

# Real third-party peers against a real `hotline serve`.
interop: build
	testdata/sipp/run.sh
	testdata/baresip/run.sh
	testdata/baresip/agent.sh
	testdata/baresip/tls.sh

load: build
	testdata/sipp/load.sh

freeze-load: build
	testdata/sipp/freeze_load.sh

bench:
	go test -run '^$$' -bench . -benchmem -benchtime 2000x ./media/... ./menus/...

# Regenerate the demo prompts (needs espeak-ng and sox).
prompts:
	cmd/hotline/defaults/gen-prompts.sh

clean:
	rm -rf bin
