#!/usr/bin/env python3
"""Rebuild a `dmrnet export` model in PyTorch and evaluate it under every modality combination.

    python3 scripts/dmrnet_torch.py MODEL.safetensors|MODEL.npz [--inputs INPUTS.npz]
        [--inference fused|route|ensemble] [--logits-out LOGITS.npz] [--batch 1024]

MODEL is what `dmrnet export --output` wrote; INPUTS what `dmrnet export --inputs` wrote
(the model-ready inputs of a split). Without --inputs the script loads the model and prints
its structure. With them it evaluates every non-empty combination of modalities on the
samples that have all of its modalities, as dmrnet does: absent modalities' encoder features
are multiplied by 0, z = mu, BatchNorm uses its running statistics. It prints one row per
combination with the accuracy of the fused logits and, when the inference mode is route or
ensemble (the model's, or --inference), of that mode too. --logits-out saves, per
combination, logits.<combination> (n, C), aux.<modality>.<combination> for the present
modalities' auxiliary heads, index.<combination> (the samples' positions in INPUTS) and
pred.<mode>.<combination> (the predicted classes).

Needs numpy and torch (Debian: apt-get install python3-torch); the safetensors file is parsed
with json and numpy, so the safetensors package is not needed.
"""

import argparse
import itertools
import json
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SAFETENSORS_DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "U8": "u1"}


def read_safetensors(path):
    """Returns the tensors (name -> numpy array) and the dmrnet metadata of a safetensors file."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        a = np.frombuffer(data[begin:end], dtype=SAFETENSORS_DTYPES[t["dtype"]])
        tensors[name] = a.reshape(t["shape"]).copy()
    return tensors, json.loads(meta["dmrnet"])


def read_npz(path):
    """Returns the arrays of an npz file and the JSON document in its __metadata__.json array."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    return arrays, json.loads(arrays.pop("__metadata__.json").tobytes())


def read_model_file(path):
    with open(path, "rb") as f:
        zipped = f.read(2) == b"PK"
    return read_npz(path) if zipped else read_safetensors(path)


class ByName(nn.Module):
    """Sub-modules keyed by modality name (any name, even one an nn.Module attribute has)."""

    def __init__(self, modules):
        super().__init__()
        for name, module in modules.items():
            self._modules[name] = module

    def __getitem__(self, name):
        return self._modules[name]


class LinearBN(nn.Module):
    """Linear -> BatchNorm1d (an mlp encoder layer before its ReLU, and the mu/logvar heads)."""

    def __init__(self, n_in, n_out, eps, momentum):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        self.bn = nn.BatchNorm1d(n_out, eps=eps, momentum=momentum)

    def forward(self, x):
        return self.bn(self.linear(x))


class MLPEncoder(nn.Sequential):
    """Linear -> BatchNorm1d -> ReLU per layer, on the flattened sample."""

    def __init__(self, n_in, layers, eps, momentum):
        blocks = []
        for width in layers:
            blocks.append(LinearBN(n_in, width, eps, momentum))
            n_in = width
        super().__init__(*blocks)

    def forward(self, x):
        x = x.flatten(1)
        for block in self:
            x = torch.relu(block(x))
        return x


class ConvBlock(nn.Module):
    """Conv2d (k x k, stride 1, 'same' padding) -> BatchNorm2d -> ReLU -> MaxPool2d(pool)."""

    def __init__(self, c_in, c_out, kernel, pool, eps, momentum):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2)
        self.bn = nn.BatchNorm2d(c_out, eps=eps, momentum=momentum)
        self.pool = pool

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        return F.max_pool2d(x, self.pool) if self.pool > 1 else x


class ConvEncoder(nn.Module):
    """Conv blocks over a (C, H, W) sample (an (H, W) one has one channel), flattened in
    (C, H, W) order, then Linear -> ReLU per fc layer."""

    def __init__(self, shape, spec, eps, momentum):
        super().__init__()
        c, h, w = shape if len(shape) == 3 else (1, *shape)
        self.shape = (c, h, w)
        blocks = []
        for out in spec["channels"]:
            blocks.append(ConvBlock(c, out, spec["kernel"], spec["pool"], eps, momentum))
            c, h, w = out, h // spec["pool"], w // spec["pool"]
        self.blocks = nn.ModuleList(blocks)
        fc, n_in = [], c * h * w
        for width in spec["layers"]:
            fc.append(nn.Linear(n_in, width))
            n_in = width
        self.fc = nn.ModuleList(fc)

    def forward(self, x):
        x = x.reshape(-1, *self.shape)
        for block in self.blocks:
            x = block(x)
        x = x.flatten(1)
        for layer in self.fc:
            x = torch.relu(layer(x))
        return x


class DMRNet(nn.Module):
    """DMRNet at inference: encoders, masked concatenation, mu head, classifier, aux heads."""

    def __init__(self, meta):
        super().__init__()
        eps, momentum = meta["bn_eps"], meta["bn_momentum"]
        self.names = [m["name"] for m in meta["modalities"]]
        # an absent modality (a specialist's other modalities) has no encoder and adds no feature
        self.absent = {m["name"] for m in meta["modalities"] if m.get("absent")}
        encoders = {}
        for m in meta["modalities"]:
            if m["name"] in self.absent:
                continue
            spec = m["encoder"]
            if spec["type"] == "conv":
                encoders[m["name"]] = ConvEncoder(m["shape"], spec, eps, momentum)
            else:
                encoders[m["name"]] = MLPEncoder(int(np.prod(m["shape"])), spec["layers"], eps, momentum)
        self.encoders = ByName(encoders)
        fused = sum(m["features"] for m in meta["modalities"])
        latent, classes = meta["latent"], len(meta["classes"])
        self.mu = LinearBN(fused, latent, eps, momentum)
        if meta["pme"]:  # unused at inference (z = mu), but part of the state
            self.logvar = LinearBN(fused, latent, eps, momentum)
        self.classifier = nn.Linear(latent, classes)
        self.aux = None
        if meta["aux_heads"]:
            self.aux = ByName({m["name"]: nn.Linear(m["features"], classes) for m in meta["modalities"]})

    def features(self, xs):
        """Each modality's encoder feature (B, E_m), from one (B, *shape) tensor per modality;
        (B, 0) for an absent modality."""
        return [x.new_zeros(len(x), 0) if n in self.absent else self.encoders[n](x) for n, x in zip(self.names, xs)]

    def head(self, feats, present):
        """Fused logits (B, C) from the features and the (B, M) 0/1 presence mask: absent
        modalities' features are multiplied by 0 before concatenation; z = mu."""
        h = torch.cat([f * present[:, i : i + 1] for i, f in enumerate(feats)], dim=1)
        return self.classifier(self.mu(h))

    def aux_logits(self, feats):
        """Each modality's auxiliary head's logits (B, C); empty without aux heads."""
        return [self.aux[n](f) for n, f in zip(self.names, feats)] if self.aux is not None else []

    def forward(self, xs, present):
        feats = self.features(xs)
        return self.head(feats, present), self.aux_logits(feats)


def load_model(path):
    tensors, meta = read_model_file(path)
    if meta.get("format") != "dmrnet-model":
        sys.exit(f"dmrnet_torch: {path}: not a dmrnet export (metadata format {meta.get('format')!r})")
    dtype = torch.float64 if meta["dtype"] == "float64" else torch.float32
    model = DMRNet(meta).to(dtype)  # before loading, so that float64 values stay float64
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    return model.eval(), meta, dtype


def log_softmax(x):
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def predict(mode, combo, logits, aux, weights):
    """dmrnet's inference rules (internal/evaluate Predict): fused = argmax of the fused
    logits; route = a single modality's aux head, else fused; ensemble = argmax of
    (wf log softmax(fused) + sum over present m of wa log softmax(aux_m)) / (wf + |set| wa)."""
    if mode == "route" and len(combo) == 1 and aux:
        return aux[combo[0]].argmax(axis=1)
    if mode == "ensemble" and aux:
        wf, wa = weights["fused"], weights["aux"]
        scores = wf * log_softmax(logits) if wf != 0 else np.zeros_like(logits)
        for m in combo:
            if wa != 0:
                scores = scores + wa * log_softmax(aux[m])
        return (scores / (wf + len(combo) * wa)).argmax(axis=1)
    return logits.argmax(axis=1)


def evaluate(model, meta, dtype, inputs, mode, batch):
    """Evaluates every combination on the samples that have all of its modalities. The
    encoders do not depend on the combination, so their features are computed once."""
    arrays, imeta = read_npz(inputs)
    names = [m["name"] for m in meta["modalities"]]
    if [m["name"] for m in imeta["modalities"]] != names or imeta["classes"] != meta["classes"]:
        sys.exit(f"dmrnet_torch: {inputs}: modalities or classes differ from the model's")
    y, avail = arrays["y"], arrays["avail"].astype(bool)
    feats, aux = [[] for _ in names], [[] for _ in names]
    with torch.no_grad():
        for lo in range(0, len(y), batch):
            f = model.features([torch.from_numpy(arrays["x." + n][lo : lo + batch]).to(dtype) for n in names])
            for m, a in enumerate(model.aux_logits(f)):
                aux[m].append(a.double().numpy())
            for m, x in enumerate(f):
                feats[m].append(x)
    feats = [torch.cat(f) for f in feats]
    aux = [np.concatenate(a) for a in aux] if model.aux is not None else []
    out, rows = {}, []
    for r in range(1, len(names) + 1):
        for combo in itertools.combinations(range(len(names)), r):  # dmrnet's order
            cname = "+".join(names[m] for m in combo)
            idx = np.flatnonzero(avail[:, list(combo)].all(axis=1))
            if len(idx) == 0:
                continue
            present = torch.zeros(1, len(names), dtype=dtype)
            present[0, list(combo)] = 1
            logits = []
            with torch.no_grad():
                for lo in range(0, len(idx), batch):
                    rows_ = idx[lo : lo + batch]
                    mask = present.expand(len(rows_), -1)
                    logits.append(model.head([f[rows_] for f in feats], mask).double().numpy())
            logits = np.concatenate(logits)
            combo_aux = {m: aux[m][idx] for m in combo} if aux else {}
            out["logits." + cname] = logits
            out["index." + cname] = idx.astype(np.int64)
            for m, a in combo_aux.items():
                out[f"aux.{names[m]}.{cname}"] = a
            row = [cname, len(idx)]
            for md in ["fused"] + ([mode] if mode != "fused" else []):
                pred = predict(md, combo, logits, combo_aux, meta["ensemble"])
                out[f"pred.{md}.{cname}"] = pred.astype(np.int64)
                row.append(100 * float((pred == y[idx]).mean()))
            rows.append(row)
    return rows, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="a dmrnet export: .safetensors or .npz")
    ap.add_argument("--inputs", help="model-ready inputs from dmrnet export --inputs (.npz)")
    ap.add_argument("--inference", choices=["fused", "route", "ensemble"], help="inference mode (default: the model's)")
    ap.add_argument("--logits-out", help="save per-combination logits and predictions here (.npz)")
    ap.add_argument("--batch", type=int, default=1024, help="samples per forward pass")
    args = ap.parse_args()
    if args.batch < 1:
        ap.error("--batch must be at least 1")

    model, meta, dtype = load_model(args.model)
    mode = args.inference or meta["inference"]
    if mode != "fused" and not meta["aux_heads"]:
        sys.exit(f"dmrnet_torch: --inference={mode}: the model has no auxiliary heads")
    if not args.inputs:
        n = sum(p.numel() for p in model.parameters())
        print(f"{args.model}: {n} parameters, {meta['dtype']}, classes {', '.join(meta['classes'])}, inference {meta['inference']}")
        for m in meta["modalities"]:
            if m.get("absent"):
                print(f"  {m['name']}: input {tuple(m['shape'])}, absent (no encoder, input ignored)")
                continue
            print(f"  {m['name']}: input {tuple(m['shape'])}, {m['encoder']['type']} encoder, {m['features']} features")
        print(model)
        return

    rows, out = evaluate(model, meta, dtype, args.inputs, mode, args.batch)
    if not rows:
        sys.exit(f"dmrnet_torch: {args.inputs}: no sample has any modality")
    heads = ["combination", "n", "fused %"] + ([f"{mode} %"] if mode != "fused" else [])
    width = max(len(heads[0]), *(len(r[0]) for r in rows))
    print(f"{heads[0]:<{width}}  {heads[1]:>5}  " + "  ".join(f"{h:>10}" for h in heads[2:]))
    for r in rows:
        print(f"{r[0]:<{width}}  {r[1]:>5}  " + "  ".join(f"{v:>10.2f}" for v in r[2:]))
    means = [sum(r[k] for r in rows) / len(rows) for k in range(2, len(heads))]
    print(f"{'mean':<{width}}  {'':>5}  " + "  ".join(f"{v:>10.2f}" for v in means))
    if args.logits_out:
        np.savez(args.logits_out, **out)


if __name__ == "__main__":
    main()
