"""The run's totals, summed from per-shard stats inside the pipeline (never one read per
shard by the launcher), and the warnings the summary ends with."""
from __future__ import annotations

import collections

from shards.schema import SUCCESS

TOP_HOSTS = 10  # hosts named per shard and in the totals
_HOSTS_KEPT = 1000  # while summing: enough that the top ten come out right in practice
HIGH_FAILURE_RATE = 0.5  # above it the summary warns and names the dominant reasons and hosts
_NAMED = 3  # reasons and hosts a warning names
NOT_THE_HOSTS = ("invalid_url", "invalid_caption", "invalid_row")


def failed_hosts(rows: list[dict], host_of) -> dict[str, int]:
    """The TOP_HOSTS hosts with the most failed rows among `rows`, with their counts (rows
    refused before any host was asked, for their url or row, count for none)."""
    counts = collections.Counter(host_of(row.get("url")) for row in rows
                                 if row["status"] not in (SUCCESS, *NOT_THE_HOSTS))
    counts.pop(None, None)
    return dict(counts.most_common(TOP_HOSTS))


def empty() -> dict:
    return {"shards": 0, "count": 0, "successes": 0, "failed": 0, "status": collections.Counter(),
            "failed_hosts": collections.Counter(), "input_rows": 0, "shards_planned": 0, "shards_resumed": 0,
            "rows_this_run": 0, "retried_shards": 0, "retried_rows": 0}


def add(totals: dict, item: dict) -> dict:
    """Add one item: a shard's stats (`this_run` marks one written now, `retried_rows` one
    whose failed rows were tried again) or a planned shard (`planned_rows`)."""
    if "planned_rows" in item:
        totals["input_rows"] += item["planned_rows"]
        totals["shards_planned"] += 1
        return totals
    totals["shards"] += 1
    for name in ("count", "successes", "failed"):
        totals[name] += item[name]
    totals["status"].update(item["status"])
    totals["failed_hosts"].update(item.get("failed_hosts") or {})
    if item.get("this_run"):
        totals["rows_this_run"] += item["count"]
    elif "retried_rows" in item:
        totals["retried_shards"] += 1
        totals["retried_rows"] += item["retried_rows"]
    else:
        totals["shards_resumed"] += 1
    return totals


def merge(parts: list[dict]) -> dict:
    totals = empty()
    for part in parts:
        for name, value in part.items():
            if isinstance(value, collections.Counter):
                totals[name].update(value)
            else:
                totals[name] += value
    totals["failed_hosts"] = collections.Counter(dict(totals["failed_hosts"].most_common(_HOSTS_KEPT)))
    return totals


def finish(totals: dict, retrying: bool) -> dict:
    """The totals as stats.json holds them: statuses sorted, the top failed hosts."""
    done = {name: value for name, value in totals.items()
            if name not in ("status", "failed_hosts") and (retrying or not name.startswith("retried_"))}
    done["status"] = dict(sorted(totals["status"].items()))
    done["failed_hosts"] = dict(collections.Counter(totals["failed_hosts"]).most_common(TOP_HOSTS))
    return done


def warning(totals: dict) -> str | None:
    """What the summary warns about, if anything: most rows refused for their address (a
    pointer to --allow-private-networks), else a high failure rate, with its reasons and hosts."""
    count, status = totals["count"], totals["status"]
    refused = status.get("private_address", 0)
    if refused and refused * 2 > count:
        return (f"{refused:,} of {count:,} rows were refused as private_address (their hosts are not "
                "globally routable: loopback, private, link-local, ...); pass --allow-private-networks "
                "to download from such addresses")
    failed = totals["failed"]
    if not count or failed <= HIGH_FAILURE_RATE * count:
        return None
    reasons = sorted(((n, name) for name, n in status.items() if name != SUCCESS), reverse=True)[:_NAMED]
    hosts = sorted(((n, host) for host, n in totals.get("failed_hosts", {}).items()), reverse=True)[:_NAMED]
    named_reasons = ", ".join(f"{name} {n:,} ({n / count:.0%})" for n, name in reasons)
    named_hosts = ", ".join(f"{host} ({n:,})" for n, host in hosts)
    return (f"{failed:,} of {count:,} rows failed ({failed / count:.0%}): mostly {named_reasons}"
            + (f"; hosts with the most failures: {named_hosts}" if named_hosts else "")
            + "; see the failed rows' error_message in the shard parquet files")
