#!/usr/bin/env bash
# Build kube-apiserver from the k8s.io/kubernetes Go module, once per machine:
# no release binary can be downloaded here, only modules from the Go module
# proxy. The build takes minutes and gigabytes, so the binary is cached in a
# folder keyed by version and reused. Prints the binary's path.
set -euo pipefail
version="${KUBE_APISERVER_VERSION:-v1.37.2}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/losslab-ci/kube-apiserver-$version"
bin="$cache/kube-apiserver"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
command -v go >/dev/null || { echo "kube-apiserver-build: go is not on PATH" >&2; exit 1; }
mkdir -p "$cache"
src=$(mktemp -d "$cache/src.XXXXXX")
trap 'rm -rf "$src"' EXIT
minor="${version#v1.}"; minor="${minor%%.*}"
patch="${version##*.}"
staging="v0.$minor.$patch"
cd "$src"
# A module of its own: kubernetes' go.mod requires its staging modules at
# v0.0.0 and replaces them with local folders, which only works in its own
# tree; here each one is replaced with its tagged release.
cat > main.go <<'GO'
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
GO
go mod init losslab-ci/kube-apiserver >&2
go mod edit -require "k8s.io/kubernetes@$version"
gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
[ -f "$gomod" ] || { echo "kube-apiserver-build: no go.mod for k8s.io/kubernetes@$version" >&2; exit 1; }
mods=$(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' "$gomod" | sort -u)
[ -n "$mods" ] || { echo "kube-apiserver-build: found no staging modules in $gomod" >&2; exit 1; }
for m in $mods; do go mod edit -replace "$m=$m@$staging"; done
echo "kube-apiserver-build: $(echo "$mods" | wc -l) staging modules at $staging" >&2
go mod tidy >&2
nice -n 10 go build -p "${KUBE_APISERVER_BUILD_P:-2}" -trimpath -o "$bin.tmp" \
  -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
  . >&2
mv "$bin.tmp" "$bin"
echo "$bin"
