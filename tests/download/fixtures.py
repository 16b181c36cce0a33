"""Helpers for the download tests: run `wit download` in-process from a config."""
from __future__ import annotations

from wit_pipeline.core.net import FetchPolicy
from wit_pipeline.download.command import DownloadConfig, run
from wit_pipeline.download.images import ImageOptions

# Loopback servers are private addresses; short timeouts keep failing cases quick.
LOCAL = FetchPolicy(allow_private_networks=True, timeout=1.0, retries=1, backoff=0.01, max_bytes=200_000)


def download(inputs: list[str], out, policy: FetchPolicy = LOCAL, image: ImageOptions = ImageOptions(),
             beam_argv: list[str] | None = None, **settings) -> dict:
    """`wit download` on `inputs` into `out`, no progress line, decoding in the download threads."""
    settings.setdefault("decode_processes", 0)
    config = DownloadConfig(inputs=tuple(inputs), out=str(out), policy=policy, image=image, show_progress=False,
                            **settings).validate()
    return run(config, beam_argv)
