"""clip/evalsets: the one eval-set reader of `wit audit`/`wit dedup` and `wit eval`/`wit train --zero-shot`."""
import json

import pytest
from PIL import Image

from shards.layout import IMAGE_EXTENSIONS
from wit_pipeline.clip import evalsets

FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "bmp": "BMP", "gif": "GIF",
           "tif": "TIFF", "tiff": "TIFF", "ppm": "PPM"}


def _folder(root):
    """One image per project extension, over two classes, plus files that are no images."""
    for i, extension in enumerate(IMAGE_EXTENSIONS):
        folder = root / ("cat" if i % 2 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(folder / f"{i}.{extension}", FORMATS[extension])
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "README.md").write_text("not CLASS/IMAGE")
    return root


def test_audit_and_eval_scan_an_image_folder_alike_ppm_included(tmp_path):
    root = _folder(tmp_path / "set")
    overlap = evalsets.discover("set", str(root))
    accuracy = evalsets.scan_image_folder(str(root))
    assert [part.path for part in overlap.parts] == [path for path, _ in accuracy.samples]
    assert [part.label for part in overlap.parts] == [label for _, label in accuracy.samples]
    assert list(overlap.classnames) == accuracy.classes == ["cat", "dog"]
    assert len(accuracy.samples) == len(IMAGE_EXTENSIONS) == 9
    assert any(path.endswith(".ppm") for path, _ in accuracy.samples)
    assert [image.eval_id for image in evalsets.iter_images(overlap)][:2] == ["cat/1.jpeg", "cat/3.webp"]


def test_named_paths_are_parsed_by_one_parser(tmp_path):
    assert evalsets.parse_named_path("fish=/data/fish", "--zero-shot") == ("fish", "/data/fish")
    assert evalsets.parse_named_path("my set=/x") == ("my set", "/x")  # wit eval takes any name
    for bad in ("noequals", "=path", "name="):
        with pytest.raises(ValueError, match=f"^--zero-shot takes NAME=PATH, got {bad!r}$"):
            evalsets.parse_named_path(bad, "--zero-shot")
        with pytest.raises(ValueError, match=f"^--eval takes NAME=PATH, got {bad!r}$"):
            evalsets.parse_eval_arg(bad)
    with pytest.raises(ValueError, match="it names output files"):
        evalsets.parse_eval_arg("my set=/x")  # the audit's names name its output files


def test_image_folder_sets_use_the_test_split_and_class_name_files(tmp_path):
    _folder(tmp_path / "split" / "train")
    _folder(tmp_path / "split" / "val")
    plain = _folder(tmp_path / "plain")
    (name, split), (_, whole) = evalsets.image_folder_sets([f"a={tmp_path / 'split'}", f"b={plain}"], "--eval")
    assert name == "a" and split.root == str(tmp_path / "split" / "val") and whole.root == str(plain)
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"dog": "golden retriever"}))
    assert evalsets.scan_image_folder(str(plain), str(names)).classnames == ["cat", "golden retriever"]
    with pytest.raises(ValueError, match=r"holds no CLASS/IMAGE files \(extensions .jpg, .jpeg, .png, .webp, "
                                         r".bmp, .gif, .tif, .tiff, .ppm\)"):
        evalsets.scan_image_folder(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        evalsets.image_folder_sets([f"x={tmp_path / 'missing'}"], "--zero-shot")
