"""Bundled models: found by name through their manifest; none installed asks for a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from restorelab.errors import ConfigError
from restorelab.inference.bundled import (
    BUNDLED_DIR,
    bundled_models,
    default_model,
    resolve_model,
)


def write_manifest(folder: Path, manifest: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "models.json").write_text(json.dumps(manifest))
    return folder


def test_without_a_manifest_there_is_no_default_and_names_are_refused(tmp_path: Path) -> None:
    assert BUNDLED_DIR.name == "models" and BUNDLED_DIR.parent.name == "restorelab"
    assert bundled_models(tmp_path) == {}
    with pytest.raises(ConfigError) as caught:
        default_model(tmp_path)
    assert str(caught.value) == (
        "no bundled model is installed; pass --ckpt RUN/checkpoints/best.ckpt or "
        "--model FILE.onnx|FILE.safetensors"
    )
    with pytest.raises(
        ConfigError,
        match=r"^--model general: no such file, and no bundled "
        r"model of that name \(bundled: none installed\)$",
    ):
        resolve_model("general", tmp_path)
    # files: existing ones, and missing ones with a model suffix (loading then names them)
    (tmp_path / "weights").write_bytes(b"")
    assert resolve_model(str(tmp_path / "weights"), tmp_path).path == tmp_path / "weights"
    assert resolve_model("gone.onnx", tmp_path).name == "gone.onnx"


def test_a_manifest_names_the_default_and_its_cards(tmp_path: Path) -> None:
    card = {"task": "real-world x4", "scores": {"RealSRSet/niqe": 4.2}}
    folder = write_manifest(
        tmp_path / "models",
        {
            "default": "general",
            "models": {
                "general": {"file": "general.safetensors", "card": card},
                "anime": {"file": "anime.onnx"},
            },
        },
    )
    found = default_model(folder)
    assert (found.name, found.path, found.card) == ("general", folder / "general.safetensors", card)
    assert resolve_model("anime", folder).path == folder / "anime.onnx"
    with pytest.raises(ConfigError, match=r"\(bundled: anime, general\)$"):
        resolve_model("photo", folder)
    write_manifest(folder, {"default": "photo", "models": {"anime": {"file": "a.onnx"}}})
    with pytest.raises(ConfigError, match="default 'photo' is not one of its models \\(anime\\)"):
        default_model(folder)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "unreadable bundled-model manifest"),
        (json.dumps({"models": []}), "a bundled-model manifest needs a 'models' mapping"),
        (json.dumps({"models": {"x": {"card": {}}}}), "model 'x' names no 'file'"),
    ],
)
def test_a_bad_manifest_is_named(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "models.json").write_text(content)
    with pytest.raises(ConfigError, match=message) as caught:
        bundled_models(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'models.json'}: ")
