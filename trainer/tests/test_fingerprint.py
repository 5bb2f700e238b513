import hashlib

from durable_finetune.fingerprint import fingerprint_dir


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_fingerprint_matches_contract_definition(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pytorch_model.bin").write_bytes(b"bin")
    # Not weights by the contract: ignored.
    (tmp_path / "training_args.bin").write_bytes(b"args")
    (tmp_path / "optimizer.pt").write_bytes(b"opt")
    (tmp_path / "config.json").write_text("{}")
    text = f"model.safetensors\t{sha(b'weights')}\nsub/pytorch_model.bin\t{sha(b'bin')}\n"
    assert fingerprint_dir(tmp_path) == "sha256:" + sha(text.encode())


def test_fingerprint_changes_with_weights(tmp_path):
    (tmp_path / "adapter_model.safetensors").write_bytes(b"a")
    before = fingerprint_dir(tmp_path)
    (tmp_path / "adapter_config.json").write_text("{}")
    assert fingerprint_dir(tmp_path) == before
    (tmp_path / "adapter_model.safetensors").write_bytes(b"b")
    assert fingerprint_dir(tmp_path) != before
