#!/usr/bin/env python3
"""Time the losslab models' training steps in PyTorch CPU, the baseline of
`losslab bench train`.

Same work as `losslab bench train`: SGD with Nesterov momentum 0.9 and weight
decay 5e-4, softmax cross-entropy, synthetic input of the model's shape and
random labels, warm-up steps excluded. PyTorch gets its best settings here:
OMP_WAIT_POLICY=PASSIVE (set before torch is imported),
torch.set_num_threads(THREADS), and glibc's malloc told to keep freed blocks
up to 32 MiB in the heap (GLIBC_TUNABLES mmap_threshold and trim_threshold;
the script re-executes itself with them). Without the last, glibc hands
PyTorch's activation buffers back to the kernel after every step and the
next step faults them in again: on a 2-core AMD EPYC VM that was 1.1 million
page faults and 9 s of system time in a 21 s resnet20 run, and 220-630
examples/s from run to run instead of 550-615. --default-malloc measures
PyTorch as it runs out of the box.

PyTorch's BLAS must be an optimised one: Debian's python3-torch alone links
the reference BLAS, on which the same mnist-cnn step ran 2.4x slower (815 vs
1966 examples/s); the script stops when it finds it loaded (the JSON's
"blas" names the library).

Run with Debian's python3 (apt-get install -y python3-torch libopenblas0-pthread):
    /usr/bin/python3 bench/pytorch_baseline.py --model mnist-cnn --batch 128 --steps 50 --threads 2 --json
Models: mlp, mnist-cnn, resnet20, resnet56 (the definitions mirror losslab's nn package).
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# glibc reads GLIBC_TUNABLES at start-up only, hence the re-execution.
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=2147483647"
if "--default-malloc" not in sys.argv and "GLIBC_TUNABLES" not in os.environ:
    os.environ["GLIBC_TUNABLES"] = MALLOC_TUNABLES
    os.execv(sys.executable, [sys.executable] + sys.argv)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


class MLP(nn.Module):
    def __init__(self, inputs=784, k=10):
        super().__init__()
        self.fc1, self.fc2, self.head = nn.Linear(inputs, 512), nn.Linear(512, 512), nn.Linear(512, k)

    def forward(self, x):
        x = x.flatten(1)
        return self.head(F.relu(self.fc2(F.relu(self.fc1(x)))))


class MnistCNN(nn.Module):
    def __init__(self, k=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc = nn.Linear(3136, 128)
        self.head = nn.Linear(128, k)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.head(F.relu(self.fc(x.flatten(1))))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:  # option B: 1x1 conv + BN projection
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.short is None else self.short(x)))


class CifarResNet(nn.Module):
    def __init__(self, n, k=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        layers, cin = [], 16
        for cout, stride in [(16, 1), (32, 2), (64, 2)]:
            for b in range(n):
                layers.append(BasicBlock(cin, cout, stride if b == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Linear(64, k)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.head(x.mean((2, 3)))


MODELS = {
    "mlp": (lambda: MLP(), (1, 28, 28)),
    "mnist-cnn": (lambda: MnistCNN(), (1, 28, 28)),
    "resnet20": (lambda: CifarResNet(3), (3, 32, 32)),
    "resnet56": (lambda: CifarResNet(9), (3, 32, 32)),
}


def loaded_blas():
    """The BLAS libraries mapped into this process (Linux), once torch has run a step."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if "blas" in os.path.basename(path) or "/openblas" in path:
                    libs.add(path)
    except OSError:
        pass
    return sorted(libs)


def reference_blas(libs):
    """Whether the BLAS is Debian's reference (netlib) one, which is several
    times slower than OpenBLAS: a baseline on it is a false win for losslab
    (PyTorch 1.13's Debian build does its convolutions and linear layers as
    BLAS products). Debian's alternatives pick it when no optimised BLAS is
    installed; its libblas lives in .../blas/, where OpenBLAS's lives in
    .../openblas-pthread/ (an OpenBLAS LAPACK loaded beside the reference
    libblas does not make PyTorch's products fast)."""
    return any("/blas/libblas" in p for p in libs)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="mnist-cnn", choices=sorted(MODELS))
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--channels-last", action="store_true", help="use torch.channels_last memory format")
    p.add_argument("--json", action="store_true")
    p.add_argument("--allow-reference-blas", action="store_true",
                   help="measure even when PyTorch's BLAS is the slow reference one (a false baseline)")
    p.add_argument("--default-malloc", action="store_true",
                   help="leave glibc malloc's defaults (PyTorch out of the box; slower and noisier on VMs)")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    build, shape = MODELS[a.model]
    model = build()
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    x = torch.randn(a.batch, *shape).contiguous(memory_format=fmt)
    model = model.to(memory_format=fmt)
    y = torch.randint(0, 10, (a.batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    # Checked before the timed steps, so that a false baseline costs no time.
    blas = loaded_blas()
    if reference_blas(blas) and not a.allow_reference_blas:
        sys.exit("pytorch_baseline.py: PyTorch runs on the reference BLAS (%s), several times slower "
                 "than OpenBLAS; install an optimised one (apt-get install -y libopenblas0-pthread) "
                 "or pass --allow-reference-blas" % ", ".join(blas))
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = time.perf_counter() - t0
    eps = a.batch * a.steps / dt
    out = {"framework": "pytorch", "version": torch.__version__, "model": a.model, "batch": a.batch,
           "steps": a.steps, "threads": a.threads, "seconds": dt, "examples_per_sec": eps,
           "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""), "blas": blas}
    if a.json:
        print(json.dumps(out))
    else:
        print(f"pytorch {torch.__version__} {a.model} batch {a.batch} threads {a.threads}: {eps:.1f} examples/s")


if __name__ == "__main__":
    sys.exit(main())
