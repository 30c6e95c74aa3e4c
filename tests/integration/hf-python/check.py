"""Reads a repo from a p2pweights daemon with the real huggingface_hub client.

Run by tests/integration/hf-python.test.ts as:
    HF_ENDPOINT=<api>/hf HF_HUB_CACHE=<dir> [HF_TOKEN=<token>] python check.py <repo> <expected.json>
where expected.json maps each file path to its sha-256 (hex). Prints one JSON line with what it
saw; exits non-zero on any mismatch. With --offline first, it only loads <repo> from the cache
(HF_HUB_OFFLINE=1), as from_pretrained does offline, e.g. after `p2pweights fetch --hf-cache`.
"""
import hashlib
import json
import os
import sys

from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def offline(repo, expected):
    folder = snapshot_download(repo)
    for path, digest in expected.items():
        assert sha256(hf_hub_download(repo, path)) == digest, path
        assert sha256(os.path.join(folder, path)) == digest, path
    print(json.dumps({"snapshot": folder}))


def main():
    if sys.argv[1] == "--offline":
        with open(sys.argv[3]) as f:
            return offline(sys.argv[2], json.load(f))
    repo, expected_path = sys.argv[1], sys.argv[2]
    with open(expected_path) as f:
        expected = json.load(f)
    api = HfApi()
    info = api.model_info(repo, files_metadata=True)
    out = {"sha": info.sha, "siblings": sorted(s.rfilename for s in info.siblings)}
    assert out["siblings"] == sorted(expected), out
    for s in info.siblings:
        assert s.lfs is not None and s.lfs.sha256 == expected[s.rfilename], (s.rfilename, s.lfs)

    tree = sorted(f.path for f in api.list_repo_tree(repo, recursive=True) if f.__class__.__name__ == "RepoFile")
    assert tree == sorted(expected), tree

    # hf_hub_download (what transformers' from_pretrained calls for config.json)
    config = hf_hub_download(repo, "config.json")
    assert sha256(config) == expected["config.json"]
    assert os.path.islink(config) and f"snapshots{os.sep}{info.sha}" in config, config

    # snapshot_download (what `hf download` calls), with allow_patterns
    some = snapshot_download(repo, allow_patterns=["*.json"])
    got = sorted(os.path.relpath(os.path.join(d, n), some) for d, _, ns in os.walk(some) for n in ns)
    assert got == sorted(p for p in expected if p.endswith(".json")), got
    full = snapshot_download(repo)
    for path, digest in expected.items():
        assert sha256(os.path.join(full, path)) == digest, path
    out["snapshot"] = full

    # the `hf download` command line, if this Python has it
    hf = os.path.join(os.path.dirname(sys.executable), "hf")
    if os.path.exists(hf):
        import subprocess
        import tempfile
        local = tempfile.mkdtemp()
        subprocess.run([hf, "download", repo, "--include", "*.safetensors", "--local-dir", local], check=True, capture_output=True, timeout=60)
        shards = sorted(p for p in expected if p.endswith(".safetensors"))
        got = sorted(n for n in os.listdir(local) if not n.startswith("."))
        assert got == shards, got
        for path in shards:
            assert sha256(os.path.join(local, path)) == expected[path], path
        out["hf_download"] = shards

    # the errors the Hub's codes map to
    errors = {}
    for name, call, err in [
        ("entry", lambda: hf_hub_download(repo, "nope.bin"), EntryNotFoundError),
        ("revision", lambda: hf_hub_download(repo, "config.json", revision="0" * 40), RevisionNotFoundError),
        ("repo", lambda: hf_hub_download("acme/nope", "config.json"), RepositoryNotFoundError),
    ]:
        try:
            call()
            errors[name] = "no error"
        except err:
            errors[name] = err.__name__
    out["errors"] = errors
    assert errors == {"entry": "EntryNotFoundError", "revision": "RevisionNotFoundError", "repo": "RepositoryNotFoundError"}, errors
    print(json.dumps(out))


if __name__ == "__main__":
    main()
