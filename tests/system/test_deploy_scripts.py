"""deploy/scripts' shell logic, run for real with stub docker/kind/kubectl on PATH.

No Docker engine, kind or cluster is needed: each test sources a script (which then only
defines its functions), calls one function under `bash -u`, and checks the commands the stubs
recorded. The kind path cannot run on the CI machines; these keep its fixed defects fixed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "deploy" / "scripts"
BASH = shutil.which("bash") or "/bin/bash"
SHELL_SCRIPTS = sorted([*SCRIPTS.glob("*.sh"), *(ROOT / "scripts").glob("*.sh")])

# The inputs of image.sh and kind-up.sh: unset in each test unless it sets them.
INPUTS = ("IMAGE", "KIND_CLUSTER", "BASE_IMAGE", "EXTRAS", "WHEELS", "DOCKER", "DOCKER_BUILD_FLAGS")


@dataclass
class Sandbox:
    """A PATH of stub commands that log their arguments, and a way to call a script's function."""

    bin: Path
    log: Path

    def stub(self, name: str, body: str = "") -> None:
        """A command NAME that appends `NAME ARGS...` to the log, then runs BODY (bash)."""
        path = self.bin / name
        path.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "{name} $*" >>"$STUB_LOG"\n{body}\n')
        path.chmod(0o755)

    def run(self, script: str, code: str, **env: str) -> subprocess.CompletedProcess[str]:
        """`source deploy/scripts/SCRIPT; CODE` in `bash -u`, from the repository root."""
        environ = {k: v for k, v in os.environ.items() if k not in INPUTS}
        environ.update(PATH=f"{self.bin}:/usr/bin:/bin", STUB_LOG=str(self.log), **env)
        return subprocess.run(
            [BASH, "-u", "-c", f"source deploy/scripts/{script}\n{code}"],
            cwd=ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    (tmp_path / "bin").mkdir()
    return Sandbox(bin=tmp_path / "bin", log=tmp_path / "calls.log")


# --- bash 3.2 (macOS): an empty array is unbound under set -u -------------------------------

ARRAY_EXPANSION = re.compile(r"\$\{(\w+)\[[@*]\]\}")
GUARDED = re.compile(r'\$\{(\w+)\[@\]\+"\$\{\1\[@\]\}"\}')


def unguarded_array_expansions(text: str) -> list[str]:
    """Names in `${name[@]}` expansions not written `${name[@]+"${name[@]}"}`: bash before 4.4
    (macOS ships 3.2) aborts on them under set -u when the array is empty."""
    return ARRAY_EXPANSION.findall(GUARDED.sub("", text))


def test_the_array_check_finds_what_bash_3_2_rejects():
    # The line image.sh had: "extra[@]: unbound variable" on macOS with no DOCKER_BUILD_FLAGS.
    assert unguarded_array_expansions('"$DOCKER" build "${args[@]}" "${extra[@]}" .') == [
        "args",
        "extra",
    ]
    assert not unguarded_array_expansions('"$DOCKER" build ${args[@]+"${args[@]}"} .')
    assert not unguarded_array_expansions('printf "%d" "${#failed[@]}"')  # a count is fine


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_no_unguarded_array_expansion(script: Path):
    assert not unguarded_array_expansions(script.read_text()), script.relative_to(ROOT)


def test_image_build_with_every_optional_input_unset(sandbox: Sandbox):
    sandbox.stub("docker")
    result = sandbox.run("image.sh", "main", IMAGE="paysys:9.9.9")
    assert result.returncode == 0, result.stderr
    assert sandbox.calls() == ["docker info", "docker build --tag paysys:9.9.9 --file Dockerfile ."]


def test_image_build_args_with_inputs(sandbox: Sandbox):
    result = sandbox.run(
        "image.sh",
        'build_args; printf "%s\\n" "${args[@]}"',
        IMAGE="paysys:9.9.9",
        BASE_IMAGE="base:1",
        EXTRAS="local",
        DOCKER_BUILD_FLAGS="--network none",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:-1] == [
        *("--tag", "paysys:9.9.9", "--file", "Dockerfile"),
        *("--build-arg", "BASE_IMAGE=base:1", "--build-arg", "EXTRAS=local"),
        *("--network", "none", "."),
    ]


# --- kind-up.sh -----------------------------------------------------------------------------


def test_job_wait_survives_a_failing_kubectl_get(sandbox: Sandbox):
    # The first `kubectl get` fails (an API server that blinks), the next one sees success.
    sandbox.stub(
        "kubectl",
        'if [[ ! -e "$STUB_LOG.failed" ]]; then touch "$STUB_LOG.failed"; exit 1; fi\nprintf "1/"',
    )
    result = sandbox.run("kind-up.sh", "wait_for_job paysys-provision 30", POLL_SECONDS="0.1")
    assert result.returncode == 0, result.stderr
    assert len(sandbox.calls()) == 2


@pytest.mark.parametrize(
    ("kubectl", "seconds", "gets"),
    [
        ("exit 1", 2, range(2, 100)),  # kubectl never answers: the deadline ends the wait
        ('printf "/True"', 30, range(1, 2)),  # the Job failed: no need to wait any longer
    ],
    ids=["deadline", "failed-job"],
)
def test_job_wait_gives_up(sandbox: Sandbox, kubectl: str, seconds: int, gets: range):
    sandbox.stub("kubectl", kubectl)
    result = sandbox.run(
        "kind-up.sh", f"wait_for_job paysys-provision {seconds}", POLL_SECONDS="0.1"
    )
    assert result.returncode == 1
    assert len(sandbox.calls()) in gets


def test_each_existing_deployment_is_restarted(sandbox: Sandbox):
    # Only the worker exists: it alone is restarted (it would keep the old image otherwise);
    # the API, created by the apply, starts on the new image anyway.
    sandbox.stub(
        "kubectl",
        '[[ "$*" == *"get deployment paysys-api"* ]] && exit 1\nexit 0',
    )
    result = sandbox.run("kind-up.sh", "deploy_app")
    assert result.returncode == 0, result.stderr
    restarts = [call for call in sandbox.calls() if "rollout restart" in call]
    assert restarts == [
        "kubectl --context kind-payment-system -n paysys rollout restart deployment/paysys-worker"
    ]
    calls = sandbox.calls()
    assert calls.index("kubectl --context kind-payment-system apply -k deploy/kind") < calls.index(
        restarts[0]
    )


def test_kind_load_falls_back_to_an_image_archive(sandbox: Sandbox):
    # `kind load docker-image` fails with Docker's containerd image store.
    sandbox.stub("kind", '[[ "$2" == docker-image ]] && exit 1\nexit 0')
    sandbox.stub("docker", '[[ "$1" == save ]] && : >"$3"\nexit 0')
    result = sandbox.run("kind-up.sh", "load_image", IMAGE="paysys:9.9.9")
    assert result.returncode == 0, result.stderr
    calls = sandbox.calls()
    assert calls[0] == "kind load docker-image paysys:9.9.9 --name payment-system"
    assert re.fullmatch(r"docker save --output (\S+/image\.tar) paysys:9\.9\.9", calls[1])
    archive = calls[1].split()[3]
    assert calls[2] == f"kind load image-archive {archive} --name payment-system"
    assert not Path(archive).exists(), "the archive is removed"


def test_kind_load_needs_no_archive_when_it_works(sandbox: Sandbox):
    sandbox.stub("kind")
    sandbox.stub("docker")
    result = sandbox.run("kind-up.sh", "load_image", IMAGE="paysys:9.9.9")
    assert result.returncode == 0, result.stderr
    assert sandbox.calls() == ["kind load docker-image paysys:9.9.9 --name payment-system"]


# --- the docs list kind-up's steps in the script's order ------------------------------------


def script_steps() -> list[str]:
    return re.findall(r'^\s*step "([^"]+)"$', (SCRIPTS / "kind-up.sh").read_text(), re.M)


def documented_steps(readme: Path) -> list[str]:
    """The numbered list after the line naming `make kind-up`'s steps: `N. **step**: ...`."""
    text = readme.read_text()
    start = text.index("`make kind-up` runs these steps")
    steps = re.findall(r"^(\d+)\. \*\*([^*]+)\*\*", text[start:], re.M)
    numbers = [int(n) for n, _ in steps]
    end = numbers.index(1, 1) if 1 in numbers[1:] else len(numbers)  # the first list only
    assert numbers[:end] == list(range(1, end + 1)), readme
    return [name for _, name in steps[:end]]


@pytest.mark.parametrize("readme", ["docs/operations/kind.md", "deploy/README.md"])
def test_docs_list_the_kind_up_steps_of_the_script(readme: str):
    assert len(script_steps()) >= 8
    assert documented_steps(ROOT / readme) == script_steps()
