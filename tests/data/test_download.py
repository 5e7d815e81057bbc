"""``restorelab-data download`` against a local HTTP server (no network here).

The tests build small zip and tar archives laid out like the official ones, with their real
sha256 / md5 in a registry file of their own, and serve them from ``http.server`` on 127.0.0.1
with Range support, or with a connection that drops midway, or with corrupt bytes.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from restorelab.commands.data import main
from restorelab.data.download import DownloadOptions, download
from restorelab.data.extract import extract
from restorelab.data.registry import Archive, ExtractRule, load_registry, parse_registry
from restorelab.errors import ConfigError, DataError
from tests.helpers import assert_one_line_error, gradient_image, run_cli


# ----------------------------------------------------------------------------- the server
class Server:
    """Files served over HTTP on 127.0.0.1, with every request's path and Range recorded."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.drop_after: dict[str, int] = {}  # path -> bytes sent before the connection drops
        self.ranges = True  # honour Range requests
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                server.requests.append((self.path, self.headers.get("Range")))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                found = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if found and server.ranges:
                    start = int(found.group(1))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                part = body[start:]
                self.send_header("Content-Length", str(len(part)))
                self.end_headers()
                cut = server.drop_after.pop(self.path, None)
                if cut is not None:  # send the first bytes, then hang up mid-body
                    self.wfile.write(part[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(part)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


# --------------------------------------------------------------------------- the archives
def png_bytes(seed: int, side: int = 24) -> bytes:
    """A small distinct PNG (a gradient shifted by ``seed``)."""
    buffer = io.BytesIO()
    Image.fromarray(np.roll(gradient_image(side, side), seed, axis=1)).save(buffer, format="PNG")
    return buffer.getvalue()


#: Members of the fixture archives, laid out as DIV2K's and BSDS500's are.
ZIP_MEMBERS = {
    "DIV2K_train_HR/0001.png": png_bytes(1),
    "DIV2K_train_HR/0002.png": png_bytes(2),
    "DIV2K_train_HR/Thumbs.db": b"not an image",
}
TAR_MEMBERS = {
    "BSR/BSDS500/data/images/train/2092.jpg": png_bytes(3),
    "BSR/BSDS500/data/images/test/100007.jpg": png_bytes(4),
    "BSR/BSDS500/data/groundTruth/train/2092.mat": b"segmentations",
}


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buffer.getvalue()


def make_tgz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("BSR/BSDS500/data/images/train/link.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(link)
    return buffer.getvalue()


ZIP_RULES = [{"match": r"^DIV2K_train_HR/([^/]+\.png)$", "to": r"DIV2K/DIV2K_train_HR/\1"}]
TAR_RULES = [
    {"match": r"^BSR/BSDS500/data/images/(train|val|test)/([^/]+\.jpg)$", "to": r"BSDS500/\1/\2"}
]


def serve(server: Server, name: str, data: bytes) -> str:
    server.files[f"/{name}"] = data
    return f"{server.url}/{name}"


def write_registry(path: Path, entries: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(entries), encoding="utf-8")
    return path


def two_archive_registry(server: Server, tmp_path: Path) -> tuple[Path, bytes, bytes]:
    """A registry entry ``fixture`` with a zip (sha256 and size) and a tgz (md5 only)."""
    zip_data, tgz_data = make_zip(ZIP_MEMBERS), make_tgz(TAR_MEMBERS)
    registry = write_registry(
        tmp_path / "registry.yaml",
        {
            "fixture": {
                "description": "two archives",
                "archives": [
                    {
                        "url": serve(server, "DIV2K_train_HR.zip", zip_data),
                        "size": len(zip_data),
                        "sha256": hashlib.sha256(zip_data).hexdigest(),
                        "extract": ZIP_RULES,
                    },
                    {
                        "url": serve(server, "BSR_bsds500.tgz", tgz_data),
                        "md5": hashlib.md5(tgz_data).hexdigest(),
                        "extract": TAR_RULES,
                    },
                ],
            }
        },
    )
    return registry, zip_data, tgz_data


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``restorelab-data ARGS`` in this process: (exit status, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------- tests
def test_download_verifies_and_unpacks_zip_and_tar_to_the_layout(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry, zip_data, tgz_data = two_archive_registry(server, tmp_path)
    root = tmp_path / "data"
    code, out, _ = run(
        capsys, "download", "fixture", "--root", str(root), "--registry", str(registry)
    )
    assert code == 0, out
    assert (root / "DIV2K/DIV2K_train_HR/0001.png").read_bytes() == ZIP_MEMBERS[
        "DIV2K_train_HR/0001.png"
    ]
    assert (root / "DIV2K/DIV2K_train_HR/0002.png").read_bytes() == ZIP_MEMBERS[
        "DIV2K_train_HR/0002.png"
    ]
    assert (root / "BSDS500/train/2092.jpg").read_bytes() == TAR_MEMBERS[
        "BSR/BSDS500/data/images/train/2092.jpg"
    ]
    assert (root / "BSDS500/test/100007.jpg").is_file()
    # unmatched members (Thumbs.db, .mat) and the symbolic link are not written
    written = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert written == [
        "BSDS500/test/100007.jpg",
        "BSDS500/train/2092.jpg",
        "DIV2K/DIV2K_train_HR/0001.png",
        "DIV2K/DIV2K_train_HR/0002.png",
        "downloads/BSR_bsds500.tgz",
        "downloads/BSR_bsds500.tgz.extracted",
        "downloads/BSR_bsds500.tgz.sha256",
        "downloads/DIV2K_train_HR.zip",
        "downloads/DIV2K_train_HR.zip.extracted",
        "downloads/DIV2K_train_HR.zip.sha256",
    ]
    assert (root / "downloads/DIV2K_train_HR.zip").read_bytes() == zip_data
    assert (root / "downloads/BSR_bsds500.tgz.sha256").read_text() == (
        f"{hashlib.sha256(tgz_data).hexdigest()}  BSR_bsds500.tgz\n"
    )
    assert "verified DIV2K_train_HR.zip (sha256)" in out
    assert "verified BSR_bsds500.tgz (md5)" in out
    assert "BSR_bsds500.tgz: 2 files under" in out

    # running it again fetches nothing and says so
    before = len(server.requests)
    code, out, _ = run(
        capsys, "download", "fixture", "--root", str(root), "--registry", str(registry)
    )
    assert code == 0
    assert len(server.requests) == before
    assert "DIV2K_train_HR.zip: already in place" in out
    code, out, _ = run(
        capsys, "download", "--list", "--root", str(root), "--registry", str(registry)
    )
    assert code == 0 and re.search(r"^fixture\s+ready\s+two archives$", out, re.M), out


def one_zip_registry(server: Server, tmp_path: Path, data: bytes, **digest: str) -> Path:
    entry = {"url": serve(server, "DIV2K_train_HR.zip", data), "extract": ZIP_RULES, **digest}
    return write_registry(tmp_path / "registry.yaml", {"fixture": {"archives": [entry]}})


def test_interrupted_transfer_resumes_from_the_partial_byte_count(
    server: Server, tmp_path: Path
) -> None:
    data = make_zip(ZIP_MEMBERS)
    registry = one_zip_registry(server, tmp_path, data, sha256=hashlib.sha256(data).hexdigest())
    cut = len(data) // 3
    server.drop_after["/DIV2K_train_HR.zip"] = cut
    root = tmp_path / "data"
    args = ("download", "fixture", "--root", str(root), "--registry", str(registry))
    first = run_cli("restorelab-data", *args, "--retries", "0", cwd=tmp_path)
    message = assert_one_line_error(first, "restorelab-data")
    partial = root / "downloads/DIV2K_train_HR.zip.partial"
    assert f"stopped after {cut} bytes" in message and str(partial) in message
    assert partial.read_bytes() == data[:cut]
    assert not (root / "DIV2K").exists()

    second = run_cli("restorelab-data", *args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert server.requests == [
        ("/DIV2K_train_HR.zip", None),
        ("/DIV2K_train_HR.zip", f"bytes={cut}-"),
    ]
    assert (root / "downloads/DIV2K_train_HR.zip").read_bytes() == data
    assert not partial.exists()
    assert (root / "DIV2K/DIV2K_train_HR/0002.png").read_bytes() == ZIP_MEMBERS[
        "DIV2K_train_HR/0002.png"
    ]


def test_a_dropped_connection_is_retried_within_the_run(server: Server, tmp_path: Path) -> None:
    data = make_zip(ZIP_MEMBERS)
    registry = one_zip_registry(server, tmp_path, data, sha256=hashlib.sha256(data).hexdigest())
    server.drop_after["/DIV2K_train_HR.zip"] = 100
    entry = load_registry(registry)["fixture"]
    download(entry, tmp_path / "data", DownloadOptions(retries=1, retry_wait_s=0))
    assert [r for _, r in server.requests] == [None, "bytes=100-"]
    assert (tmp_path / "data/downloads/DIV2K_train_HR.zip").read_bytes() == data


def test_a_server_that_ignores_range_gives_the_whole_file_again(
    server: Server, tmp_path: Path
) -> None:
    data = make_zip(ZIP_MEMBERS)
    registry = one_zip_registry(server, tmp_path, data, sha256=hashlib.sha256(data).hexdigest())
    downloads = tmp_path / "data/downloads"
    downloads.mkdir(parents=True)
    (downloads / "DIV2K_train_HR.zip.partial").write_bytes(data[:50])
    server.ranges = False
    download(load_registry(registry)["fixture"], tmp_path / "data", DownloadOptions(retries=0))
    assert server.requests == [("/DIV2K_train_HR.zip", "bytes=50-")]
    assert (downloads / "DIV2K_train_HR.zip").read_bytes() == data


def test_a_checksum_mismatch_keeps_the_file_aside_and_exits_2(
    server: Server, tmp_path: Path
) -> None:
    good = make_zip(ZIP_MEMBERS)
    corrupt = bytearray(good)
    corrupt[len(corrupt) // 2] ^= 0xFF
    expected = hashlib.sha256(good).hexdigest()
    registry = one_zip_registry(server, tmp_path, bytes(corrupt), sha256=expected)
    root = tmp_path / "data"
    done = run_cli(
        "restorelab-data", "download", "fixture", "--root", str(root), "--registry",
        str(registry), cwd=tmp_path,
    )  # fmt: skip
    message = assert_one_line_error(done, "restorelab-data")
    bad = root / "downloads/DIV2K_train_HR.zip.bad"
    assert (
        f"DIV2K_train_HR.zip failed verification: its sha256 is "
        f"{hashlib.sha256(corrupt).hexdigest()}, the registry says {expected}; kept as {bad}"
    ) in message
    assert bad.read_bytes() == bytes(corrupt)
    assert sorted(p.name for p in (root / "downloads").iterdir()) == ["DIV2K_train_HR.zip.bad"]
    assert not (root / "DIV2K").exists()


def test_a_wrong_size_is_refused_before_hashing(server: Server, tmp_path: Path) -> None:
    data = make_zip(ZIP_MEMBERS)
    registry = write_registry(
        tmp_path / "r.yaml",
        {
            "fixture": {
                "archives": [
                    {
                        "url": serve(server, "x.zip", data),
                        "size": len(data) + 7,
                        "extract": ZIP_RULES,
                    }
                ]
            }
        },
    )
    with pytest.raises(DataError, match=f"x.zip failed verification: it has {len(data)} bytes"):
        download(load_registry(registry)["fixture"], tmp_path / "data", DownloadOptions())
    assert (tmp_path / "data/downloads/x.zip.bad").is_file()


def test_an_unknown_checksum_is_recorded_and_reported_as_unverified(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = make_zip(ZIP_MEMBERS)
    registry = one_zip_registry(server, tmp_path, data)
    root = tmp_path / "data"
    code, out, _ = run(
        capsys, "download", "fixture", "--root", str(root), "--registry", str(registry)
    )
    digest = hashlib.sha256(data).hexdigest()
    assert code == 0
    assert (
        f"warning: could not verify DIV2K_train_HR.zip: the registry has no published checksum "
        f"for it; its sha256 {digest} is recorded in DIV2K_train_HR.zip.sha256"
    ) in out
    assert (root / "downloads/DIV2K_train_HR.zip.sha256").read_text() == (
        f"{digest}  DIV2K_train_HR.zip\n"
    )


def test_a_set_without_a_link_says_where_to_put_the_file_then_unpacks_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = make_zip(ZIP_MEMBERS)
    entry = {"file": "DIV2K_train_HR.zip", "url": None, "extract": ZIP_RULES}
    registry = write_registry(
        tmp_path / "r.yaml", {"handmade": {"page": "https://example.org", "archives": [entry]}}
    )
    root = tmp_path / "data"
    args = ("download", "handmade", "--root", str(root), "--registry", str(registry))
    code, _, err = run(capsys, *args)
    target = root / "downloads/DIV2K_train_HR.zip"
    assert code == 2
    assert err.strip() == (
        f"restorelab-data: error: handmade: DIV2K_train_HR.zip has no direct download link; "
        f"put it at {target} and run this again (see https://example.org)"
    )
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    code, out, _ = run(capsys, *args)
    assert code == 0 and "could not verify DIV2K_train_HR.zip" in out
    assert (root / "DIV2K/DIV2K_train_HR/0001.png").is_file()


def test_delete_archives_keeps_the_records_and_the_rerun_fetches_nothing(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry, _, _ = two_archive_registry(server, tmp_path)
    root = tmp_path / "data"
    args = ("download", "fixture", "--root", str(root), "--registry", str(registry))
    assert run(capsys, *args, "--delete-archives")[0] == 0
    assert not (root / "downloads/DIV2K_train_HR.zip").exists()
    assert (root / "downloads/DIV2K_train_HR.zip.extracted").is_file()
    requests = len(server.requests)
    assert run(capsys, *args)[0] == 0
    assert len(server.requests) == requests


def test_an_extract_rule_pointing_outside_the_root_is_refused(tmp_path: Path) -> None:
    archive_path = tmp_path / "evil.zip"
    archive_path.write_bytes(make_zip({"a/x.png": b"x"}))
    rule = ExtractRule(re.compile(r"^a/(x\.png)$"), r"../\1")
    archive = Archive("evil.zip", None, None, {}, (rule,))
    with pytest.raises(DataError, match=r"member 'a/x.png' would be written to '../x.png'"):
        extract(archive_path, archive, tmp_path / "root")
    assert not (tmp_path / "x.png").exists()


def test_an_archive_whose_layout_matches_no_rule_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "moved.zip"
    path.write_bytes(make_zip({"NewName/0001.png": b"x"}))
    archive = load_registry_entry_archive(ZIP_RULES, "moved.zip")
    with pytest.raises(DataError, match=r"none of its files matches .*NewName/0001.png"):
        extract(path, archive, tmp_path / "root")


def test_a_damaged_archive_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.tgz"
    path.write_bytes(make_tgz(TAR_MEMBERS)[:-300])
    archive = load_registry_entry_archive(TAR_RULES, "broken.tgz")
    with pytest.raises(DataError, match=rf"archive {re.escape(str(path))} is damaged or truncated"):
        extract(path, archive, tmp_path / "root")


def load_registry_entry_archive(rules: list[dict[str, str]], file: str) -> Archive:
    entries = parse_registry({"x": {"archives": [{"file": file, "extract": rules}]}}, "test")
    return entries["x"].archives[0]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"x": {"archives": [{"url": "http://h/a.zip", "sha256": "abc", "extract": ZIP_RULES}]}},
         r"registry test: x.archives\[0\].sha256: not a 64-digit hex digest: 'abc'"),
        ({"x": {"archives": [{"url": "http://h/a.zip"}]}},
         r"registry test: x.archives\[0\]: no extract rules"),
        ({"x": {"archives": [{"url": None, "extract": ZIP_RULES}]}},
         r"registry test: x.archives\[0\]: needs a plain file name"),
        ({"x": {"archives": [{"url": "http://h/a.zip", "extract": [{"match": "(", "to": "y"}]}]}},
         r"registry test: x.archives\[0\].extract\[0\].match: bad regular expression"),
        ({"x": {"description": "nothing"}}, r"registry test: x: neither archives nor a note"),
    ],
)  # fmt: skip
def test_bad_registry_entries_name_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_registry(raw, "test")


def test_an_unreadable_registry_file_names_it_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("div2k:\n  description: a: b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"registry {re.escape(str(path))}: cannot be read "
                       r"\(line 2\): mapping values are not allowed here"):  # fmt: skip
        load_registry(path)
    with pytest.raises(ConfigError, match=r"registry file not found: .*missing.yaml"):
        load_registry(tmp_path / "missing.yaml")


def test_unknown_data_set_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "download", "div2000")
    assert code == 2
    assert err.startswith("restorelab-data: error: download: unknown data set(s) ['div2000']; ")
    assert "div2k, div2k_bicubic_x2" in err


# ------------------------------------------------------------------- the built-in registry
def test_the_builtin_registry_holds_the_published_checksums() -> None:
    registry = load_registry()
    assert {
        "div2k", "div2k_bicubic_x2", "div2k_bicubic_x3", "div2k_bicubic_x4", "flickr2k",
        "sr_benchmarks", "manga109", "bsds500", "sidd", "gopro", "t91", "train400",
    } <= set(registry)  # fmt: skip
    train_hr = registry["div2k"].archives[0]
    assert train_hr.url == "https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip"
    assert train_hr.size == 3530603713
    assert train_hr.digests == {
        "sha256": "9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335"
    }
    assert registry["flickr2k"].archives[0].digests == {"md5": "5d3f39443d5e9489bff8963f8f26cb03"}
    # no published checksum: left unknown rather than made up
    assert registry["bsds500"].archives[0].digests == {}
    assert registry["sidd"].archives[0].url is None and registry["gopro"].archives[0].url is None
    assert all(
        a.file.endswith((".zip", ".tar", ".tgz")) for e in registry.values() for a in e.archives
    )


@pytest.mark.parametrize(
    ("name", "member", "target"),
    [
        ("div2k", "DIV2K_train_HR/0801.png", "DIV2K/DIV2K_train_HR/0801.png"),
        ("div2k", "DIV2K_valid_HR/0900.png", "DIV2K/DIV2K_valid_HR/0900.png"),
        ("div2k_bicubic_x4", "DIV2K_train_LR_bicubic/X4/0001x4.png",
         "DIV2K/DIV2K_train_LR_bicubic/X4/0001x4.png"),
        ("flickr2k", "Flickr2K/Flickr2K_HR/000001.png", "Flickr2K/Flickr2K_HR/000001.png"),
        ("flickr2k", "Flickr2K/Flickr2K_LR_unknown/X2/000001x2.png", None),
        ("sr_benchmarks", "benchmark/Set5/HR/baby.png", "benchmark/Set5/HR/baby.png"),
        ("sr_benchmarks", "benchmark/B100/LR_bicubic/X4/3096x4.png",
         "benchmark/BSD100/LR_bicubic/X4/3096x4.png"),
        ("bsds500", "BSR/BSDS500/data/images/val/3096.jpg", "BSDS500/val/3096.jpg"),
        ("bsds500", "BSR/BSDS500/data/images/val/Thumbs.db", None),
        ("sidd", "SIDD_Small_sRGB_Only/Data/0001_001_S6_00100_00060_3200_L/GT_SRGB_010.PNG",
         "SIDD/train/gt/0001_001_S6_00100_00060_3200_L_010.png"),
        ("sidd", "SIDD_Small_sRGB_Only/Data/0001_001_S6_00100_00060_3200_L/NOISY_SRGB_010.PNG",
         "SIDD/train/lq/0001_001_S6_00100_00060_3200_L_010.png"),
        ("gopro", "GOPRO_Large/train/GOPR0372_07_00/blur/000047.png",
         "GoPro/train/lq/GOPR0372_07_00_000047.png"),
        ("gopro", "GOPRO_Large/test/GOPR0384_11_00/sharp/000001.png",
         "GoPro/test/gt/GOPR0384_11_00_000001.png"),
        ("gopro", "GOPRO_Large/train/GOPR0372_07_00/blur_gamma/000047.png", None),
    ],
)  # fmt: skip
def test_builtin_rules_give_the_documented_layout(
    name: str, member: str, target: str | None
) -> None:
    archives = load_registry()[name].archives
    assert {a.destination(member) for a in archives} - {None} == ({target} if target else set())
