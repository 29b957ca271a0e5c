#!/usr/bin/env bash
# Start a Kubernetes API server backed by etcd, both on loopback only, for
# the Kubernetes executor's integration test: no nodes, scheduler or
# controllers, so the test plays the Job controller itself. Prints
# "export ..." lines for the caller to eval: LOSSLAB_TEST_KUBECONFIG (a
# kubeconfig with the server, its CA and a static token) and
# LOSSLAB_TEST_KUBE_PIDS (the server's and etcd's process ids, to kill
# them). etcd comes from Debian's etcd-server package, unpacked into the
# cache folder rather than installed; kube-apiserver is built by
# kube-apiserver-build.sh, once per machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/losslab-ci"
apiserver=$("$here/kube-apiserver-build.sh")

etcd=$(command -v etcd || true)
if [ -z "$etcd" ]; then
  etcd="$cache/etcd-server/usr/bin/etcd"
  if [ ! -x "$etcd" ]; then
    tmp=$(mktemp -d)
    chmod 755 "$tmp" # apt downloads as the _apt user
    # etcd-server brings a systemd unit and a system user when installed;
    # unpacking the .deb gives just the binary.
    if ! (cd "$tmp" && apt-get download etcd-server >&2); then
      apt-get update -qq >&2
      (cd "$tmp" && apt-get download etcd-server >&2)
    fi
    mkdir -p "$cache/etcd-server"
    dpkg -x "$tmp"/etcd-server_*.deb "$cache/etcd-server"
    rm -rf "$tmp"
  fi
fi
command -v openssl >/dev/null || { echo "kube-apiserver-up: openssl is needed for the service-account keys" >&2; exit 1; }

# free_port prints a loopback TCP port nothing listens on.
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$(( 20000 + RANDOM % 30000 ))
    if ! ss -Htln "sport = :$p" | grep -q .; then echo "$p"; return; fi
  done
  echo "kube-apiserver-up: no free port found" >&2; return 1
}

dir=$(mktemp -d /tmp/losslab-kube.XXXXXX)
etcd_client=$(free_port); etcd_peer=$(free_port); etcd_metrics=$(free_port); secure=$(free_port)
setsid "$etcd" --name losslab-ci --data-dir "$dir/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_client" --advertise-client-urls "http://127.0.0.1:$etcd_client" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
  --initial-cluster "losslab-ci=http://127.0.0.1:$etcd_peer" \
  --listen-metrics-urls "http://127.0.0.1:$etcd_metrics" \
  >"$dir/etcd.log" 2>&1 </dev/null &
etcd_pid=$!

openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
token=$(openssl rand -hex 16)
echo "$token,losslab-ci,losslab-ci,system:masters" > "$dir/tokens.csv"
mkdir -p "$dir/certs"
setsid "$apiserver" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$secure" \
  --endpoint-reconciler-type=none --cert-dir="$dir/certs" \
  --etcd-servers="http://127.0.0.1:$etcd_client" \
  --service-account-key-file="$dir/sa.pub" --service-account-signing-key-file="$dir/sa.key" \
  --service-account-issuer=https://kubernetes.default.svc \
  --token-auth-file="$dir/tokens.csv" --authorization-mode=AlwaysAllow \
  --service-cluster-ip-range=10.0.0.0/24 \
  >"$dir/kube-apiserver.log" 2>&1 </dev/null &
api_pid=$!

ready=
for _ in $(seq 1 120); do
  if [ -f "$dir/certs/apiserver.crt" ] &&
     curl -fsS --cacert "$dir/certs/apiserver.crt" -H "Authorization: Bearer $token" "https://127.0.0.1:$secure/readyz" >/dev/null 2>&1; then
    ready=1; break
  fi
  if ! kill -0 "$api_pid" 2>/dev/null || ! kill -0 "$etcd_pid" 2>/dev/null; then break; fi
  sleep 0.5
done
if [ -z "$ready" ]; then
  echo "kube-apiserver-up: the API server did not become ready; logs:" >&2
  tail -n 30 "$dir/etcd.log" "$dir/kube-apiserver.log" >&2
  kill "$api_pid" "$etcd_pid" 2>/dev/null || true
  exit 1
fi
cat > "$dir/kubeconfig" <<CFG
apiVersion: v1
kind: Config
clusters:
- name: losslab-ci
  cluster:
    server: https://127.0.0.1:$secure
    certificate-authority: $dir/certs/apiserver.crt
users:
- name: losslab-ci
  user:
    token: $token
contexts:
- name: losslab-ci
  context: {cluster: losslab-ci, user: losslab-ci}
current-context: losslab-ci
CFG
echo "kube-apiserver-up: API server ready at https://127.0.0.1:$secure (logs in $dir)" >&2
echo "export LOSSLAB_TEST_KUBECONFIG=$dir/kubeconfig"
echo "export LOSSLAB_TEST_KUBE_PIDS='$api_pid $etcd_pid'"
