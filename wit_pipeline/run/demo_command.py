"""`wit demo`: the whole chain on a world the project generates, loopback only.

Flags -> `DemoConfig`; then builds the demo world (`worlds/demo.py`), serves its website
on 127.0.0.1, writes `OUT/demo.yaml` and runs it as `wit run` would (chain.py), then
prints what each stage did and where the audit report is. Minutes on 2 CPU cores;
nothing is downloaded.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import time

import yaml

from wit_pipeline.core import files
from wit_pipeline.run.chain import plan, run_plan
from wit_pipeline.run.report import write_report
from wit_pipeline.run.worlds import demo as demo_world

DEMO_PORT = 18765


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="demo-out", help="output directory (default demo-out)")
    parser.add_argument("--train-steps", type=int, default=300, help="training steps (default 300)")
    parser.add_argument("--pages", type=int, default=24, help="pages on the demo website (default 24)")
    parser.add_argument("--force", action="store_true",
                        help="remove every stage's earlier output and run the chain again")


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    out: str                 # as given (`wit report OUT` in the closing lines)
    out_dir: str             # absolute: the generated config names files under it
    train_steps: int
    pages: int
    force: bool
    beam: tuple[str, ...]    # Beam pipeline options, for every stage

    @classmethod
    def from_args(cls, args: argparse.Namespace, beam_argv: list[str]) -> "DemoConfig":
        for flag, value in (("--train-steps", args.train_steps), ("--pages", args.pages)):
            if value < 1:
                raise ValueError(f"{flag} must be >= 1, got {value}")
        return cls(args.out, os.path.abspath(args.out), args.train_steps, args.pages, args.force, tuple(beam_argv))


def demo_config(out: str, world: dict, seeds_file: str, eval_root: str, train_steps: int, beam: list[str]) -> dict:
    return {
        "out": out,
        "beam": beam,
        "queries": {"wiki_dump": [world["wiki_dump"]], "pageviews": [world["pageviews"]],
                    "wordnet": world["wordnet"], "min_word_count": 20, "min_bigram_count": 10, "min_pmi": 1.0,
                    "min_title_views": 60},
        "harvest": {"crawl_seeds": seeds_file, "allow_private_networks": True, "per_host_delay": 0.0,
                    "max_pages": 100, "max_depth": 2, "per_query_cap": 150, "min_declared_size": 32},
        "download": {"image_size": 64, "resize_mode": "center_crop", "samples_per_shard": 100,
                     "allow_private_networks": True, "threads": 16},
        # No weights offline: pHash-only detection (sha256 and pHash; nothing is embedded).
        "dedup": {"eval": {"shapes": eval_root}, "clip_pretrained": "none", "device": "cpu"},
        "train": {"model": "wit-tiny", "steps": train_steps, "batch_size": 64, "lr": 1e-3, "workers": 1,
                  "resampled": True, "device": "cpu", "precision": "fp32", "zero_shot": {"shapes": eval_root}},
    }


def _stats(out: str, stage: str, *parts: str) -> dict:
    path = files.join(out, stage, *parts, "stats.json")
    return files.read_json(path) if files.exists(path) else {}


def main(args: argparse.Namespace, beam_argv: list[str]) -> int:
    config = DemoConfig.from_args(args, beam_argv)
    started = time.monotonic()
    out = config.out_dir
    world_dir = os.path.join(out, "world")
    print(f"building the demo world in {world_dir}", flush=True)
    world = demo_world.write_wiki_inputs(world_dir)
    eval_root = demo_world.write_eval_set(os.path.join(world_dir, "eval", "shapes"))
    site = demo_world.build_site(eval_root, pages=config.pages)
    # A fixed port keeps the site's URLs, and so every stage's inputs, the same from run to
    # run: a re-run skips finished stages and resumes an interrupted one.
    with site.serve(port=DEMO_PORT) as server:
        seeds_file = os.path.join(world_dir, "seeds.txt")
        with open(seeds_file, "w") as f:
            f.write(server.url("/index.html") + "\n")
        chain_config = demo_config(out, world, seeds_file, eval_root, config.train_steps, list(config.beam))
        with open(os.path.join(out, "demo.yaml"), "w") as f:
            yaml.safe_dump(chain_config, f, sort_keys=False)
        run_plan(out, plan(chain_config), force=config.force)
    write_report(out)
    print(f"\n== wit demo: the chain ran in {time.monotonic() - started:.0f} s ==")
    _print_summary(config, planted=len(site.planted))
    return 0


def _print_summary(config: DemoConfig, planted: int) -> None:
    """What each stage did, in a line each, and where to look next."""
    out = config.out_dir
    queries, harvest, download = _stats(out, "queries"), _stats(out, "harvest"), _stats(out, "download")
    dedup, train = _stats(out, "dedup"), _stats(out, "train")
    shapes = (train.get("zero_shot") or {}).get("shapes", {})
    chance = 1 / shapes["classes"] if shapes.get("classes") else float("nan")
    print(f"queries : {queries.get('queries')} queries "
          f"({', '.join(f'{k} {v}' for k, v in (queries.get('by_source') or {}).items() if v)})")
    print(f"harvest : {harvest['pairs']['kept']} pairs kept of {harvest['images_found']['crawl']} images on "
          f"{harvest['seen']['crawl_pages_fetched']} crawled pages; filtered {harvest.get('filtered')}")
    print(f"download: {download['successes']} of {download['count']} images ({download['status']})")
    print(f"dedup   : kept {dedup['filtered']['kept']}, removed {dedup['duplicates']['removed_by_reason']}; "
          f"eval overlap {dedup['eval_sets']['shapes']['overlap']} of {dedup['eval_sets']['shapes']['size']} "
          f"({planted} planted)")
    print(f"train   : {train.get('steps')} steps, loss {train.get('first_loss')} -> {train.get('final_loss')}; "
          f"zero-shot top-1 {shapes.get('top1', float('nan')):.3f} on {shapes.get('classes')} classes "
          f"(chance {chance:.3f})")
    print(f"audit   : {files.join(out, 'dedup', 'audit', 'report.html')}")
    print(f"report  : {files.join(out, 'report.html')} (`wit report {config.out}` rebuilds it)")
    print(f"config  : {os.path.join(out, 'demo.yaml')} (re-run it with `wit run --config`)")
