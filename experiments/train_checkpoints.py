"""Train the diffusion checkpoints shipped in ``checkpoints/`` and record them in ``checkpoints/MANIFEST.json``.

Each entry states the space, the training data, the exact command that reproduces it, its metrics (measured on
1,000 fresh samples right after training) and the file's sha256.

    .venv/bin/python experiments/train_checkpoints.py                 # all
    .venv/bin/python experiments/train_checkpoints.py --only nb201    # one
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
CKPT = ROOT / "checkpoints"

#: name -> (space, TrainConfig overrides, description of the data)
SPECS: dict[str, tuple[str, dict, str]] = {
    "nb201": ("nb201", {"train_fraction": 1.0}, "all 15,625 NAS-Bench-201 cells"),
    "nb201_split10": (
        "nb201",
        {"train_fraction": 0.1},
        "a seeded 10% split of NAS-Bench-201 (1,562 cells; the other 14,063 are held out for novelty)",
    ),
    "nb101": (
        "nb101",
        {"max_train_archs": 20_000},
        "the first 20,000 distinct pruned cells (by graph hash) among seeded NAS-Bench-101 random_spec draws",
    ),
    "nasbench_graph": (
        "nasbench_graph",
        {},
        "all 26,206 NAS-Bench-Graph architectures (package representatives)",
    ),
    "transnas101_micro": (
        "transnas101_micro",
        {"train_fraction": 1.0},
        "all 4,096 TransNAS-Bench-101 micro cells",
    ),
    "mbv3": (
        "mbv3",
        {"max_train_archs": 20_000},
        "20,000 distinct seeded uniform samples of the OFA MobileNetV3 space (2.2e19 networks: nothing enumerates it)",
    ),
    "transnas101_macro": (
        "transnas101_macro",
        {"train_fraction": 1.0},
        "all 3,256 TransNAS-Bench-101 macro networks",
    ),
}


#: Sample metrics recorded in the manifest (1,000 DDIM-20 samples, seed 0, right after training).
_SAMPLE_METRICS = (
    "validity",
    "uniqueness",
    "unique_raw",
    "novelty",
    "novelty_raw",
    "op_freq_tv",
    "edge_count_tv",
    "degree_tv",
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=sorted(SPECS), action="append")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--eval-only",
        action="store_true",
        help="re-measure the sample metrics of existing checkpoints (no training)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from nag.diffusion.lit import TrainConfig, train_diffusion
    from nag.diffusion.metrics import generation_report
    from nag.diffusion.model import GraphDiffusionModel
    from nag.diffusion.sampler import sample
    from nag.spaces import get_space

    manifest_path = CKPT / "MANIFEST.json"
    if args.eval_only:
        manifest = json.loads(manifest_path.read_text())
        for name in args.only or list(SPECS):
            out = CKPT / f"diffusion_{name}.pt"
            model, state = GraphDiffusionModel.load_with_state(out, user_given=False)
            sp = get_space(SPECS[name][0])
            res = sample(model, sp, 1000, steps=20, solver="ddim", seed=0, repair=5)
            train = [sp.parse(t) for t in state["extra"]["train_archs"]]
            rep = generation_report(sp, res.archs, train, elapsed_s=res.seconds).as_dict()
            metrics = manifest[out.name]["metrics"]
            metrics.update(validity_before_repair=res.validity_before_repair, raw_validity=res.raw_validity)
            metrics.update({k: rep[k] for k in _SAMPLE_METRICS})
            print(name, json.dumps(metrics), flush=True)
        tmpm = manifest_path.with_name(".MANIFEST.json.tmp")
        tmpm.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        os.replace(tmpm, manifest_path)
        return
    for name in args.only or list(SPECS):
        space_name, overrides, data = SPECS[name]
        sp = get_space(space_name)
        cfg = TrainConfig(space=sp.name, max_steps=args.steps, max_minutes=args.minutes, **overrides)
        run_dir = ROOT / "runs" / "checkpoints" / name
        model, info = train_diffusion(sp, cfg, run_dir, progress=sys.stderr.isatty())
        res = sample(model, sp, 1000, steps=20, solver="ddim", seed=0, repair=5)
        rep = generation_report(sp, res.archs, info["train_archs"], elapsed_s=res.seconds)
        out = CKPT / f"diffusion_{name}.pt"
        CKPT.mkdir(exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        shutil.copyfile(run_dir / "model.pt", tmp)
        os.replace(tmp, out)
        metrics = {
            "train_steps": info["steps"],
            "train_seconds": round(info["elapsed_s"], 1),
            "train_loss": round(info["train_loss"], 4),
            "params": info["params"],
            "validity_before_repair": res.validity_before_repair,
            "raw_validity": res.raw_validity,
            **{k: v for k, v in rep.as_dict().items() if k in _SAMPLE_METRICS},
        }
        only = f" --only {name}" if args.only else ""
        manifest = (
            json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        )  # re-read: runs may overlap
        manifest[out.name] = {
            "space": sp.name,
            "data": data,
            "command": f".venv/bin/python experiments/train_checkpoints.py --steps {args.steps} --minutes {args.minutes}"
            f" --threads {args.threads}{only}",
            "train_config": cfg.to_dict(),
            "metrics": metrics,
            "sha256": sha256(out),
            "bytes": out.stat().st_size,
        }
        tmpm = manifest_path.with_name(".MANIFEST.json.tmp")
        tmpm.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        os.replace(tmpm, manifest_path)
        print(name, json.dumps(metrics), flush=True)


if __name__ == "__main__":
    main()
