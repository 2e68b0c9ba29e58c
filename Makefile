# The two commands of the README: `make serve` and `make test`. Each installs what is
# missing (scripts/install-deps.sh, as root) and builds first.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
LISTEN ?= 127.0.0.1:8080

.PHONY: all deps build askr serve serve-laravel laravel-setup test unit e2e bench clean format deb dist

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt: | deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: deps $(BUILD_DIR)/CMakeCache.txt
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# Only the server binary (the tests are not needed to serve).
askr: deps $(BUILD_DIR)/CMakeCache.txt
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target askr

# The Debian package: build/askr_VERSION_ARCH.deb (scripts/make-deb.sh; docs/production.md).
deb: askr
	@scripts/make-deb.sh $(BUILD_DIR)/askr $(BUILD_DIR)

# The relocatable tarball: build/askr-VERSION-linux-ARCH.tar.gz (scripts/make-dist.sh).
dist: askr
	@scripts/make-dist.sh $(BUILD_DIR)/askr $(BUILD_DIR)

serve: askr
	@echo "Askr serves examples/hello on http://$(LISTEN)/  (Ctrl-C stops it)"
	@$(BUILD_DIR)/askr serve --root examples/hello/public --listen $(LISTEN)

# The Laravel 8 example app (Debian's php-laravel-framework) in worker mode; its writable
# files (storage, SQLite database) go to LARAVEL_STORAGE, created by laravel-setup.
LARAVEL_APP := $(CURDIR)/examples/laravel-app
LARAVEL_STORAGE ?= $(LARAVEL_APP)/storage
laravel-setup:
	@LARAVEL_STORAGE=$(LARAVEL_STORAGE) $(LARAVEL_APP)/bin/setup

serve-laravel: askr laravel-setup
	@echo "Askr serves examples/laravel-app in worker mode on http://$(LISTEN)/  (Ctrl-C stops it)"
	@$(BUILD_DIR)/askr serve --root $(LARAVEL_APP)/public --listen $(LISTEN) \
		--worker integrations/laravel/worker.php \
		--php-env APP_BASE_PATH=$(LARAVEL_APP) --php-env LARAVEL_STORAGE=$(LARAVEL_STORAGE) \
		--broadcast --php-env BROADCAST_DRIVER=askr \
		--queue 1 --queue-script integrations/laravel/queue.php \
		--scheduler-script integrations/laravel/scheduler.php

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j 2 --timeout 300

unit: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -R '^unit\.'

e2e: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -R '^e2e\.'

bench: build
	@bench/run

format:
	@clang-format -i $$(git ls-files 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'tests/*.hpp')

clean:
	@rm -rf $(BUILD_DIR)
