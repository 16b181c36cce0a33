"""Issue 10, the dispatcher's share: stale plans and stale `wit run` stages (item 10), an
unfinished harvest's candidates (12), two commands writing one OUT (13), mistyped flags
(18) and directories where files are expected (19).

Download inputs here point at 127.0.0.1 without --allow-private-networks: every row is
refused before any connection, so downloads are instant and nothing leaves the machine.
"""
import json
import os
import socket
import subprocess
import sys
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from shards.reader import find_shards
from wit_pipeline.core import files
from wit_pipeline.cli import main as wit
from wit_pipeline.download.plan import INPUT_DIRECTORY, URL_LIST_GLOBS, check_harvest_finished, plan_shards
from wit_pipeline.harvest.command import ARCHIVE_DIRECTORY
from wit_pipeline.core.options import check_beam_arguments
from queries.command import DUMP_DIRECTORY, INDEX_DIRECTORY
from wit_pipeline.run.chain import ConfigError, plan


def write_urls(path, rows: int, caption: str = "a red circle number {}") -> str:
    path.write_text("url,caption\n" + "".join(f"http://127.0.0.1:9/img/{i}.jpg,{caption.format(i)}\n"
                                              for i in range(rows)))
    return str(path)


def touch(root, *names) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")


def stats(out) -> dict:
    return json.loads((out / "stats.json").read_text())


# ---------------------------------------------------------------- item 10: stale plans


def test_download_refuses_an_input_that_changed_since_its_plan(tmp_path, capsys):
    urls = write_urls(tmp_path / "urls.csv", 400)
    out = tmp_path / "out"
    assert wit(["download", "--url-list", urls, "--out", str(out), "--samples-per-shard", "100"]) == 0
    assert stats(out)["input_rows"] == 400
    write_urls(tmp_path / "urls.csv", 600)
    capsys.readouterr()
    assert wit(["download", "--url-list", urls, "--out", str(out), "--samples-per-shard", "100"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"wit download: error: {out} holds a run planned from {urls} as it was then (")
    assert "it has changed since (" in err and err.endswith("use a new --out")
    assert stats(out)["input_rows"] == 400  # nothing of the earlier run was touched


def test_plan_identity_is_size_and_mtime_per_file(tmp_path):
    urls = write_urls(tmp_path / "urls.csv", 10)
    plan_shards([urls], str(tmp_path / "out"), 4)
    assert len(plan_shards([urls], str(tmp_path / "out"), 4)) == 3  # unchanged: the stored plan
    before = os.stat(urls)
    write_urls(tmp_path / "urls.csv", 10, caption="a blue square number {}")  # same size, other rows
    os.utime(urls, (before.st_atime, before.st_mtime + 5))
    with pytest.raises(ValueError, match="it has changed since .*use a new --out"):
        plan_shards([urls], str(tmp_path / "out"), 4)
    with pytest.raises(ValueError, match="with --samples-per-shard 4 \\(now 5\\); use a new --out"):
        plan_shards([urls], str(tmp_path / "out"), 5)


def test_wit_run_reruns_the_stages_below_a_changed_one(tmp_path, capsys):
    out = tmp_path / "run"
    (out / "queries").mkdir(parents=True)
    pq.write_table(pa.table({"query": ["red circle"]}), out / "queries" / "queries.parquet")
    config = {"out": str(out),
              "harvest": {"url_list": [write_urls(tmp_path / "urls.csv", 8)], "per_query_cap": 3, "lang": "any"},
              "download": {"samples_per_shard": 2, "image_size": 32}}
    config_path = tmp_path / "run.yaml"

    def run(*extra):
        config_path.write_text(yaml.safe_dump(config))
        capsys.readouterr()
        assert wit(["run", "--config", str(config_path), *extra]) == 0
        return capsys.readouterr().out

    run()
    assert stats(out / "download")["input_rows"] == 3 and len(find_shards(str(out / "download"))) == 2

    config["harvest"]["per_query_cap"] = 5
    printed = run()
    assert "-- harvest: its options or its upstream stage's output changed; removing" in printed
    assert "-- download: its options or its upstream stage's output changed; removing" in printed
    assert stats(out / "harvest")["pairs"]["kept"] == 5
    assert stats(out / "download")["input_rows"] == 5 and stats(out / "download")["shards_resumed"] == 0
    assert len(find_shards(str(out / "download"))) == 3

    (out / "download" / "_DONE.json").unlink()  # as if download had been killed: it resumes, nothing removed
    printed = run()
    assert "-- harvest: finished earlier, skipped" in printed and "removing" not in printed
    assert stats(out / "download")["shards_resumed"] == 3

    printed = run("--force")
    assert printed.count("--force; removing its earlier output") == 2
    assert stats(out / "download")["shards_resumed"] == 0


# ------------------------------------------------------ item 12: unfinished harvests


def test_download_refuses_candidates_of_an_unfinished_harvest(tmp_path, capsys):
    harvest = tmp_path / "h"
    harvest.mkdir()
    table = pa.table({"url": ["http://127.0.0.1:9/a.jpg"], "text": ["a red circle"]})
    pq.write_table(table, harvest / "candidates-00002-of-00006.parquet")
    assert wit(["download", "--candidates", str(harvest / "candidates-*"), "--out", str(tmp_path / "d")]) == 2
    assert capsys.readouterr().err == (
        f"wit download: error: {harvest}/candidates-00002-of-00006.parquet: its harvest did not finish (no "
        f"stats.json beside it); run `wit harvest` into {harvest} again to finish it\n")
    assert not (tmp_path / "d").exists()

    # stats.json of an earlier, finished harvest does not vouch for a later one's files
    (harvest / "stats.json").write_text(json.dumps({"outputs": {"candidates": ["candidates-00000-of-00001.parquet"]}}))
    with pytest.raises(ValueError, match="candidates-00002-of-00006.parquet is not one of the candidate files"):
        check_harvest_finished([str(harvest / "candidates-00002-of-00006.parquet")])

    # a finished harvest's folder is taken whole
    (harvest / "candidates-00002-of-00006.parquet").rename(harvest / "candidates-00000-of-00001.parquet")
    pq.write_table(pa.table({"query": ["x"], "matched": [1], "kept": [1]}), harvest / "query_counts.parquet")
    assert wit(["download", "--candidates", str(harvest), "--out", str(tmp_path / "d")]) == 0
    assert stats(tmp_path / "d")["input_rows"] == 1


def test_a_harvest_that_fails_leaves_no_stats_and_no_lock(tmp_path, monkeypatch, capsys):
    queries = tmp_path / "q.txt"
    queries.write_text("red circle\n")
    (tmp_path / "boilerplate.txt").write_text("a red circle number 3\n")
    argv = ["harvest", "--queries", str(queries), "--url-list", write_urls(tmp_path / "u.csv", 4), "--lang", "any",
            "--boilerplate-file", str(tmp_path / "boilerplate.txt"), "--out", str(tmp_path / "h")]
    assert wit(argv) == 0
    assert stats(tmp_path / "h")["pairs"]["kept"] == 3  # one caption is boilerplate

    import wit_pipeline.core.options

    def killed(options):
        raise RuntimeError("worker lost")

    monkeypatch.setattr(wit_pipeline.core.options, "make_pipeline", killed)
    with pytest.raises(RuntimeError, match="worker lost"):
        wit(argv)
    assert not (tmp_path / "h" / "stats.json").exists()
    assert not (tmp_path / "h" / files.LOCK_NAME).exists()
    capsys.readouterr()
    assert wit(["download", "--candidates", str(tmp_path / "h"), "--out", str(tmp_path / "d")]) == 2
    assert "its harvest did not finish" in capsys.readouterr().err


# ------------------------------------------------------------------ item 13: the OUT lock


def test_a_second_command_is_refused_until_the_first_dies(tmp_path, capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom wit_pipeline.core import files\n"
         "files.lock_out(sys.argv[1], 'download')\nprint('locked', flush=True)\ntime.sleep(120)", str(out)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        urls = write_urls(tmp_path / "urls.csv", 3)
        assert wit(["download", "--url-list", urls, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"wit download: error: {out} is in use by `wit download` (pid {holder.pid} on this "
                              f"machine, since ")
        assert err.endswith("); wait for it to finish or use another --out\n")
        config = tmp_path / "run.yaml"
        config.write_text(yaml.safe_dump({"out": str(out), "download": {}}))
        assert wit(["run", "--config", str(config)]) == 2
        assert f"is in use by `wit download` (pid {holder.pid}" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    # Its owner is dead: the lock is stale and the next command takes it over.
    assert wit(["download", "--url-list", urls, "--out", str(out)]) == 0
    assert stats(out)["input_rows"] == 3
    assert not (out / files.LOCK_NAME).exists()


def test_racing_lockers_get_exactly_one_lock(tmp_path):
    results = []
    barrier = threading.Barrier(8)

    def contend():
        barrier.wait()
        try:
            results.append(files.OutLock(str(tmp_path / "out"), "download").acquire())
        except files.OutLocked as refused:
            results.append(refused)

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if isinstance(r, files.OutLock)]
    assert len(winners) == 1 and len(results) == 8
    assert [r for r in results if not isinstance(r, files.OutLock)][0].args[0].startswith(
        f"{tmp_path / 'out'} is in use by `wit download` (pid {os.getpid()} on this machine")
    winners[0].release()
    assert not (tmp_path / "out" / files.LOCK_NAME).exists()


def write_lock(out, **fields) -> None:
    out.mkdir(exist_ok=True)
    record = {"pid": os.getpid(), "host": socket.gethostname(), "command": "wit harvest",
              "started": "2024-01-01T00:00:00+00:00", "process_started": 0.0, "token": "t"} | fields
    (out / files.LOCK_NAME).write_text(json.dumps(record))


def test_stale_and_foreign_locks(tmp_path):
    out = tmp_path / "out"
    write_lock(out)  # our pid, but a process that started at the epoch: the pid was recycled
    with files.OutLock(str(out), "download"):
        assert json.loads((out / files.LOCK_NAME).read_text())["command"] == "wit download"
    assert not (out / files.LOCK_NAME).exists()

    write_lock(out, host="other-host", pid=4242)
    with pytest.raises(files.OutLocked) as refused:
        files.OutLock(str(out), "download").acquire()
    assert str(refused.value) == (
        f"{out} is in use by `wit harvest` (pid 4242 on host other-host, since 2024-01-01T00:00:00+00:00); wait "
        f"for it to finish or use another --out (if it no longer runs, delete {out}/{files.LOCK_NAME})")


def test_a_failed_command_releases_its_lock_and_leaves_no_new_out(tmp_path, capsys):
    (tmp_path / "in.csv").write_text("link,caption\nhttp://127.0.0.1:9/a.jpg,a\n")
    assert wit(["download", "--url-list", str(tmp_path / "in.csv"), "--out", str(tmp_path / "out")]) == 2
    assert "no url column 'url'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    (tmp_path / "kept").mkdir()
    assert wit(["download", "--url-list", str(tmp_path / "in.csv"), "--out", str(tmp_path / "kept")]) == 2
    assert os.listdir(tmp_path / "kept") == []


# -------------------------------------------------------------- item 18: mistyped flags


@pytest.mark.parametrize("argv,message", [
    (["queries", "--out", "{d}/q", "--wiki-dumps", "{d}/dump.xml"],
     "wit queries: error: unrecognized argument --wiki-dumps (did you mean --wiki-dump?)"),
    (["harvest", "--queries", "{d}/q.txt", "--out", "{d}/h", "--url-list", "{d}/u.csv", "--per-query-capp", "5"],
     "wit harvest: error: unrecognized argument --per-query-capp (did you mean --per-query-cap?)"),
    (["harvest", "--queries", "{d}/q.txt", "--out", "{d}/h", "--url-list", "{d}/u.csv", "--per-query-capp=5"],
     "wit harvest: error: unrecognized argument --per-query-capp (did you mean --per-query-cap?)"),
    (["download", "--url-list", "{d}/u.csv", "--out", "{d}/o", "--direct-num-workers", "2"],
     "wit download: error: unrecognized argument --direct-num-workers (did you mean --direct_num_workers?)"),
    (["download", "--url-list", "{d}/u.csv", "--out", "{d}/o", "--direct_num_workers", "two"],
     "wit download: error: argument --direct_num_workers: invalid int value: 'two'"),
    (["queries", "--out", "{d}/q", "stray"], "wit queries: error: unrecognized argument stray"),
])
def test_unknown_arguments_are_errors(tmp_path, capsys, argv, message):
    (tmp_path / "q.txt").write_text("red circle\n")
    write_urls(tmp_path / "u.csv", 2)
    assert wit([a.format(d=tmp_path) for a in argv]) == 2
    assert capsys.readouterr().err == message + "\n"
    assert sorted(os.listdir(tmp_path)) == ["q.txt", "u.csv"]  # refused before anything ran


def test_beam_options_in_every_spelling_are_accepted(tmp_path, capsys):
    check_beam_arguments(["--runner=DataflowRunner", "--project", "p", "--region=r", "--save_main_session",
                          "--experiments", "a", "--experiments=b", "--dataflow_service_options", "x=y",
                          "--sdk_location", "container", "--flink_master", "h:1", "--spark_master_url", "s",
                          "--job_endpoint", "localhost:1", "--environment_type", "LOOPBACK",
                          "--s3_region_name", "eu", "--direct_running_mode", "multi_threading"], [])
    urls = write_urls(tmp_path / "u.csv", 2)
    assert wit(["download", "--url-list", urls, "--out", str(tmp_path / "o"), "--direct_num_workers=2",
                "--direct_running_mode", "multi_threading", "--no_pipeline_type_check"]) == 0
    assert stats(tmp_path / "o")["input_rows"] == 2


def test_wit_run_checks_the_beam_options_of_its_config(tmp_path):
    with pytest.raises(ConfigError, match="config key 'beam': unrecognized argument --direct_num_workerz "
                                          "\\(did you mean --direct_num_workers\\?\\)"):
        plan({"out": str(tmp_path), "beam": ["--direct_num_workerz", "2"], "download": {}})
    steps = dict(plan({"out": str(tmp_path), "beam": ["--direct_num_workers=2", "--save_main_session"],
                       "download": {"resize_only_if_bigger": True}}))
    assert steps["download"][-3:] == ["--resize-only-if-bigger", "--direct_num_workers=2", "--save_main_session"]


# -------------------------------------------------- item 19: a directory for a file


@pytest.mark.parametrize("argv,message", [
    (["harvest", "--queries", "{e}", "--url-list", "{d}/u.csv"], "--queries {e}: the directory holds no input file "
                                                                 "(queries.parquet)"),
    (["harvest", "--queries", "{d}/q.txt", "--warc", "{e}"], "--warc {e}: the directory holds no input file (*.warc,"),
    (["harvest", "--queries", "{d}/q.txt", "--wat", "{e}"], "--wat {e}: the directory holds no input file (*.warc,"),
    (["harvest", "--queries", "{d}/q.txt", "--url-list", "{e}"], "--url-list {e}: the directory holds no input file "
                                                                 "(*.parquet,"),
    (["harvest", "--queries", "{d}/q.txt", "--crawl-seeds", "{e}"], "--crawl-seeds {e}: is a directory; give a file"),
    (["harvest", "--queries", "{d}/q.txt", "--url-list", "{d}/u.csv", "--boilerplate-file", "{e}"],
     "--boilerplate-file {e}: is a directory; give a file"),
    (["queries", "--wiki-dump", "{e}"], "--wiki-dump {e}: the directory holds no input file (*.xml, "),
    (["queries", "--pageviews", "{e}"], "--pageviews {e}: the directory holds no input file (*)"),
    (["download", "--candidates", "{e}"], "--candidates/--url-list {e}: the directory holds no input file "
                                          "(candidates-*-of-*.parquet, *.parquet,"),
    (["download", "--url-list", "{e}"], "--candidates/--url-list {e}: the directory holds no input file"),
    (["dedup", "--shards", "{e}"], "--shards {e}: the directory holds no input file (*.tar)"),
    (["audit", "--shards", "{d}/u.csv", "--eval", "x={e}"], "--shards {d}/u.csv: not a .tar shard"),
])
def test_directories_and_wrong_files_get_one_line(tmp_path, capsys, argv, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "q.txt").write_text("red circle\n")
    write_urls(tmp_path / "u.csv", 2)
    argv = [a.format(d=tmp_path, e=empty) for a in argv] + ["--out", str(tmp_path / "out")]
    assert wit(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"wit {argv[0]}: error: {message.format(d=tmp_path, e=empty)}")
    assert err.count("\n") == 1


def test_what_a_directory_stands_for(tmp_path):
    touch(tmp_path, "warcs/a.warc.gz", "warcs/b.warc.wat.gz", "warcs/c.warc", "warcs/README.txt",
          "warcs/.tmp-1-d.warc.gz", "warcs/sub/e.warc.gz")
    assert files.expand_inputs([str(tmp_path / "warcs")], "--warc", ARCHIVE_DIRECTORY) == [
        str(tmp_path / "warcs" / name) for name in ("a.warc.gz", "b.warc.wat.gz", "c.warc")]
    touch(tmp_path, "dumps/enwiki-pages-articles.xml", "dumps/enwiki-pages-articles-multistream1.xml-p1p41242.bz2",
          "dumps/enwiki-pages-articles-multistream-index1.txt-p1p41242.bz2", "dumps/md5sums.txt")
    assert [p.rsplit("/", 1)[1] for p in files.expand_inputs([str(tmp_path / "dumps")], "--wiki-dump",
                                                             DUMP_DIRECTORY)] == [
        "enwiki-pages-articles-multistream1.xml-p1p41242.bz2", "enwiki-pages-articles.xml"]
    assert [p.rsplit("/", 1)[1] for p in files.expand_inputs([str(tmp_path / "dumps")], "--wiki-dump-index",
                                                             INDEX_DIRECTORY)] == [
        "enwiki-pages-articles-multistream-index1.txt-p1p41242.bz2"]
    touch(tmp_path, "site/a.csv", "site/b.jsonl.gz", "site/stats.json", "site/notes.txt")
    assert files.expand_inputs([str(tmp_path / "site")], "--url-list", (URL_LIST_GLOBS,)) == [
        str(tmp_path / "site" / "a.csv"), str(tmp_path / "site" / "b.jsonl.gz")]
    touch(tmp_path, "h/candidates-00000-of-00001.parquet", "h/query_counts.parquet", "h/stats.json")
    assert files.expand_inputs([str(tmp_path / "h")], "--candidates", INPUT_DIRECTORY) == [
        str(tmp_path / "h" / "candidates-00000-of-00001.parquet")]
    touch(tmp_path, "q/queries.parquet", "q/queries.txt")
    assert files.expand_input(str(tmp_path / "q"), "--queries", (("queries.parquet",),)) == str(
        tmp_path / "q" / "queries.parquet")
    touch(tmp_path, "shards/00000.tar", "shards/00000.parquet", "shards/00000_stats.json")
    assert find_shards(str(tmp_path / "shards")) == [str(tmp_path / "shards" / "00000.tar")]
    with pytest.raises(ValueError, match="names 2 files, expected one"):
        files.expand_input(str(tmp_path / "q" / "*"), "--queries")
