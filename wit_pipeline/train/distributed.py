"""One training process's place in the run: its rank, its device and precision, and the
few collective steps the trainer takes with the other processes.

One process per device; under `torchrun` the processes form a DDP group (NCCL on GPUs,
gloo on CPU). Alone, every collective below is the identity, so the trainer reads the
same either way.
"""
from __future__ import annotations

import dataclasses
import datetime
import os

import torch
import torch.distributed as dist


@dataclasses.dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device_flag: str) -> tuple[DistInfo, torch.device]:
    """DistInfo and this process's device for a checked `--device` value (auto, cpu, cuda,
    cuda:N); joins the torchrun group when there is one."""
    info = DistInfo(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                    int(os.environ.get("LOCAL_RANK", 0)))
    if device_flag == "auto":
        device_flag = "cuda" if torch.cuda.is_available() else "cpu"
    if device_flag.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device_flag}: no CUDA device is available")
        device = torch.device(device_flag if ":" in device_flag or not info.distributed else f"cuda:{info.local_rank}")
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if info.distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(minutes=30))
    return info, device


def resolve_precision(flag: str, device: torch.device) -> tuple[str, torch.dtype | None]:
    """(precision name, autocast dtype or None)."""
    if flag == "auto":
        if device.type != "cuda":
            flag = "fp32"
        else:
            flag = "bf16" if torch.cuda.is_bf16_supported() else "amp"
    if flag == "fp32":
        return flag, None
    if flag == "bf16" or device.type != "cuda":
        # CPUs have no fast fp16 kernels: mixed precision there means bf16.
        return flag, torch.bfloat16
    return flag, torch.float16


def all_ranks(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True when `flag` holds on every rank."""
    if not info.distributed:
        return flag
    tensor = torch.tensor([int(flag)], device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return bool(tensor.item())


def gather(obj, info: DistInfo) -> list:
    """`obj` of every rank, in rank order."""
    if not info.distributed:
        return [obj]
    gathered = [None] * info.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.distributed:
        dist.destroy_process_group()
