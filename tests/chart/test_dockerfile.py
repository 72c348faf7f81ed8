"""The Dockerfile cannot be built here (no container engine), so check what
the chart relies on: the final stage runs as non-root and holds the binary at
the path the chart runs."""

from __future__ import annotations

import json
import re

from chartlib import REPO, one, render

DOCKERFILE = REPO / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions(DOCKERFILE.read_text()):
        if ins[0] == "FROM":
            result.append([])
        assert result, "instruction before the first FROM"
        result[-1].append(ins)
    return result


def binary_name() -> str:
    cargo = (REPO / "Cargo.toml").read_text()
    match = re.search(r'\[\[bin\]\]\s*\nname\s*=\s*"([^"]+)"', cargo)
    return match.group(1) if match else re.search(r'^name\s*=\s*"([^"]+)"', cargo, re.M).group(1)


def test_multi_stage_build_with_locked_dependencies():
    all_stages = stages()
    assert len(all_stages) >= 2
    builder = all_stages[0]
    assert builder[0][1].startswith("rust:1.95-bookworm")
    runs = " ".join(args for ins, args in builder if ins == "RUN")
    assert "cargo build --release --locked" in runs
    # The image carries the operator alone: the stand-ins are a default-on cargo feature.
    builds = [cmd for cmd in re.split(r"&&|;", runs) if "cargo build" in cmd]
    assert builds and all("--no-default-features" in cmd.split() for cmd in builds), builds
    assert "standins" not in runs, "the image must not enable the stand-ins feature"


def test_standins_feature_is_default_on_and_gates_the_stand_ins():
    cargo = (REPO / "Cargo.toml").read_text()
    assert re.search(r'^default\s*=\s*\[[^\]]*"standins"', cargo, re.M), "standins is a default feature"
    lib = (REPO / "src" / "lib.rs").read_text()
    for module in ("emulator", "kubeemu", "demo", "bench"):
        assert re.search(r'#\[cfg\(feature = "standins"\)\]\s*pub mod ' + module + ";", lib), module


def test_final_stage_runs_as_nonroot_with_the_binary_the_chart_runs():
    final = stages()[-1]
    base = final[0][1]
    assert base.startswith("gcr.io/distroless/"), base
    assert base.endswith(":nonroot"), "the distroless :nonroot variant"
    users = [args for ins, args in final if ins == "USER"]
    assert users and users[-1] == "65532:65532"
    (entrypoint,) = [json.loads(args) for ins, args in final if ins == "ENTRYPOINT"]
    path = f"/{binary_name()}"
    assert entrypoint == [path]
    copies = [args.split() for ins, args in final if ins == "COPY"]
    assert any(c[0].startswith("--from=") and c[-1] == path and c[-2].endswith("/" + binary_name()) for c in copies)
    container = one(render(), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == [path]
    assert container["securityContext"]["runAsUser"] == int(users[-1].split(":")[0])


def test_dockerignore_keeps_the_build_inputs():
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    for needed in ("Cargo.toml", "Cargo.lock", "src", "src/"):
        assert needed not in ignored
    assert "target" in ignored and ".git" in ignored
