"""Export a torchvision-style classifier for `losslab study --models DIR`.

Writes DIR/NAME/ in the layout of docs/exported-models.md:

    model.json                     objective, hyperparameters, seed, layers
    test.npz                       logits, labels, penultimate, one array per --layers name
    val.npz        (--val)         logits, labels: temperature scaling
    train.npz      (--train)       penultimate, labels: class separation on training images
    transfer/T/{train,test}.npz    (--transfer T=ROOT) penultimate, labels

Outputs are taken with forward hooks, so the model is not modified: the
penultimate features are the input of the final linear layer (--head,
`fc` for ResNets), and each --layers module's output is average-pooled over
a grid of at most 4 × 4 cells and flattened channels-last, exactly as
losslab pools its own block outputs for CKA. PyTorch and torchvision are
yours; losslab does not need them. Example, a ResNet-50 trained with label
smoothing 0.1 and seed 2, on an ImageNet-style folder tree:

    python examples/export_pytorch.py --weights ls01-seed2.pt --arch resnet50 \\
        --objective label_smoothing --param alpha=0.1 --seed 2 \\
        --test /data/imagenet/val --val /data/imagenet/holdout \\
        --layers layer1,layer2,layer3,layer4 \\
        --transfer flowers=/data/flowers --out exports/ls01-seed2

Then: losslab study --models exports --out study-exports
"""

import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torchvision import transforms


def pooled(x):
    """[N, C, H, W] → [N, gh·gw·C]: the mean over each cell of a grid of
    min(H, 4) × min(W, 4) cells, cell (i, j) covering rows ⌊i·H/gh⌋ to
    ⌊(i+1)·H/gh⌋ and likewise columns, cells row-major and channels last:
    losslab's own rule (represent.PoolSpatial), which torch's
    adaptive_avg_pool2d matches only when 4 divides H and W. Vectors are
    kept as they are."""
    if x.dim() != 4:
        return x.flatten(1)
    h, w = x.shape[2], x.shape[3]
    gh, gw = min(4, h), min(4, w)
    cells = [x[:, :, h * i // gh:h * (i + 1) // gh, w * j // gw:w * (j + 1) // gw].mean(dim=(2, 3))
             for i in range(gh) for j in range(gw)]
    return torch.stack(cells, dim=1).flatten(1)


@torch.no_grad()
def outputs(model, head, layers, root, batch, device, with_layers):
    """Logits, labels, penultimate features and pooled layer outputs of every
    image under root (an ImageFolder tree), in the folder's order."""
    tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    loader = torch.utils.data.DataLoader(torchvision.datasets.ImageFolder(root, tf), batch_size=batch, num_workers=min(4, os.cpu_count() or 1))
    seen = {}
    hooks = [head.register_forward_hook(lambda m, inp, out: seen.__setitem__("penultimate", inp[0].flatten(1)))]
    if with_layers:
        for name in layers:
            module = model.get_submodule(name)
            hooks.append(module.register_forward_hook(lambda m, inp, out, name=name: seen.__setitem__(name, pooled(out))))
    keep = {"logits": [], "labels": []}
    for x, y in loader:
        keep["logits"].append(model(x.to(device)).float().cpu().numpy())
        keep["labels"].append(y.numpy().astype(np.int64))
        for name, v in seen.items():
            keep.setdefault(name, []).append(v.float().cpu().numpy())
    for h in hooks:
        h.remove()
    return {k: np.concatenate(v) for k, v in keep.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="resnet50", help="torchvision model name")
    p.add_argument("--weights", required=True, help="state_dict file of the trained model")
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--head", default="fc", help="the final linear layer: its input is the penultimate layer")
    p.add_argument("--layers", default="", help="comma-separated modules whose outputs CKA compares, input to output")
    p.add_argument("--objective", required=True, help="e.g. softmax, label_smoothing, sigmoid, cosine_softmax")
    p.add_argument("--param", action="append", default=[], help="hyperparameter KEY=VALUE, repeatable")
    p.add_argument("--seed", type=int, required=True, help="the training seed (≥ 1): the report pairs objectives by it")
    p.add_argument("--test", required=True, help="ImageFolder root of the test split")
    p.add_argument("--val", help="ImageFolder root of a held-out validation split (temperature scaling)")
    p.add_argument("--train", help="ImageFolder root of (a subset of) the training images")
    p.add_argument("--transfer", action="append", default=[], help="NAME=ROOT with ROOT/train and ROOT/test ImageFolders")
    p.add_argument("--out", required=True, help="the model's folder, inside the models folder")
    p.add_argument("--batch", type=int, default=256)
    a = p.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = torchvision.models.get_model(a.arch, num_classes=a.classes)
    model.load_state_dict(torch.load(a.weights, map_location="cpu"))
    model.eval().to(device)
    head = model.get_submodule(a.head)
    layers = [s for s in a.layers.split(",") if s]

    os.makedirs(a.out, exist_ok=True)
    params = {k: float(v) for k, v in (s.split("=", 1) for s in a.param)}
    with open(os.path.join(a.out, "model.json"), "w") as f:
        json.dump({"objective": a.objective, "hyperparameters": params, "seed": a.seed, "layers": layers,
                   "architecture": a.arch, "framework": "pytorch " + torch.__version__}, f, indent=2)

    def save(path, arrays, names):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.savez(path, **{n: np.ascontiguousarray(arrays[n]) for n in names})

    test = outputs(model, head, layers, a.test, a.batch, device, True)
    save(os.path.join(a.out, "test.npz"), test, ["logits", "labels", "penultimate"] + layers)
    if a.val:
        save(os.path.join(a.out, "val.npz"), outputs(model, head, [], a.val, a.batch, device, False), ["logits", "labels"])
    if a.train:
        save(os.path.join(a.out, "train.npz"), outputs(model, head, [], a.train, a.batch, device, False), ["penultimate", "labels"])
    for spec in a.transfer:
        name, root = spec.split("=", 1)
        for split in ("train", "test"):
            got = outputs(model, head, [], os.path.join(root, split), a.batch, device, False)
            save(os.path.join(a.out, "transfer", name, split + ".npz"), got, ["penultimate", "labels"])


if __name__ == "__main__":
    main()
