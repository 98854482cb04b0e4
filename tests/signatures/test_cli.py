"""`theodoi sign`: verify, report and make-demo-pdf from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from node.cli import main
from node.signatures.demo import make_pdf, sign_with
from tests.signatures.pki import government_like_chain, trust_folder


@pytest.fixture
def run(tmp_path: Path, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.delenv("THEODOI_CONFIG", raising=False)
    monkeypatch.setenv("THEODOI_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("THEODOI_SIGNATURES_TRUST_DIR", str(tmp_path / "trust"))

    def invoke(*args: str):  # noqa: ANN202
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def signed_file(tmp_path: Path) -> Path:
    root, _intermediate, signer = government_like_chain()
    trust_folder(tmp_path / "trust", root)
    path = tmp_path / "ket-luan.pdf"
    path.write_bytes(sign_with(make_pdf(["KET LUAN 02-KL/TEST"]), signer))
    return path


def test_verify_json_valid(run, signed_file: Path) -> None:  # noqa: ANN001
    result = run("sign", "verify", "--json", str(signed_file))

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["status"] == "valid"
    assert body["is_authenticated"] is True
    assert body["signatures"][0]["signer_name"] == "Trần Thị Bình"


def test_verify_text_in_vietnamese(run, signed_file: Path) -> None:  # noqa: ANN001
    result = run("sign", "verify", "--lang", "vi", str(signed_file))

    assert result.exit_code == 0, result.output
    assert "Đã xác thực" in result.output
    assert "Trần Thị Bình" in result.output


def test_verify_text_in_english(run, signed_file: Path) -> None:  # noqa: ANN001
    result = run("sign", "verify", "--lang", "en", str(signed_file))

    assert "Status: Authenticated" in result.output


def test_verify_modified_exits_one(run, signed_file: Path) -> None:  # noqa: ANN001
    data = signed_file.read_bytes()
    position = data.index(b"KET LUAN")
    signed_file.write_bytes(data[:position] + b"X" + data[position + 1:])

    result = run("sign", "verify", "--json", str(signed_file))

    assert result.exit_code == 1
    assert json.loads(result.output)["status"] == "invalid"


def test_verify_not_pdf_exits_two(run, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "notes.txt"
    path.write_text("plain text", encoding="utf-8")

    result = run("sign", "verify", "--json", str(path))

    assert result.exit_code == 2
    assert json.loads(result.output)["error"] == "not_pdf"


def test_report_signs_with_node_key(run, tmp_path: Path) -> None:  # noqa: ANN001
    from node.core.settings import Settings
    from node.signatures.signing import ensure_signing_identity

    ensure_signing_identity(Settings(instance_path=tmp_path / "instance"), "Tỉnh ủy Thử nghiệm")
    source = tmp_path / "bao-cao.pdf"
    source.write_bytes(make_pdf(["Bao cao thang 11"]))

    signed = run("sign", "report", str(source), "-o", str(tmp_path / "out.pdf"))
    checked = run("sign", "verify", "--json", str(tmp_path / "out.pdf"))

    assert signed.exit_code == 0, signed.output
    body = json.loads(checked.output)
    assert body["status"] == "untrusted"
    assert body["signatures"][0]["is_node_certificate"] is True
    assert body["signatures"][0]["signer_name"] == "Tỉnh ủy Thử nghiệm"


def test_make_demo_pdf_verifies_with_its_authority(run, tmp_path: Path,  # noqa: ANN001
                                                   monkeypatch) -> None:  # noqa: ANN001
    folder = tmp_path / "demo"
    made = run("sign", "make-demo-pdf", str(folder))
    assert made.exit_code == 0, made.output

    monkeypatch.setenv("THEODOI_SIGNATURES_TRUST_DIR", str(folder / "trust"))
    signed = run("sign", "verify", "--json", str(folder / "signed-sample.pdf"))
    modified = run("sign", "verify", "--json", str(folder / "modified-sample.pdf"))

    assert json.loads(signed.output)["status"] == "valid"
    assert json.loads(modified.output)["status"] == "modified"
