"""Every fenced code block of README.md and docs/*.md works as written (issue 17).

- ```python blocks run verbatim as scripts, each in a fresh process (exit code 0) forked from a server that has
  imported torch and torch_geometric and nothing else (importing those two is ~5 s of every block on one core;
  hypergen itself is imported by the block, as a user's script does);
- ```bash blocks: every command is checked as far as it can be without long runs: ``hypergen-train`` /
  ``hypergen-eval`` compose (and resolve) their Hydra config with the same overrides, ``-m`` sweeps expanded into
  their jobs; fast ``hypergen`` subcommands run for real (in this process), slow ones (``predict``, ``init``) are
  checked by the argument parser and run for real under ``-m slow``; ``python script.py --flags`` needs the script
  and every flag in its ``--help``; ``bash script``, conf files and other repository paths must exist; a program the
  checker does not know fails the test (teach it the program rather than skip the line);
- ```yaml, ```json and ```toml blocks parse; a yaml block whose first line names a conf file (``# conf/archs/x.yaml``)
  composes when placed there;
- blocks without a language are output listings and are not checked.

Collection reads only the Markdown files (no torch); each test names its block as ``<file>:<index>``, the index
counting every fenced block of the file from 0.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import multiprocessing
import multiprocessing.context
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest itself depends on tomli there
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

#: Python blocks that take more than ~20 s on one core, as (file, a line of the block), so that editing other blocks
#: does not move the mark. None today: each block takes 4-7 s of CPU, most of it importing torch and hypergen.
SLOW_PYTHON_BLOCKS: set[tuple[str, str]] = set()

#: ``hypergen`` subcommands that run for real only under ``-m slow`` (they load data or predict big models).
SLOW_SUBCOMMANDS = {"init", "predict"}


@dataclass(frozen=True)
class Block:
    """One fenced code block: ``file`` relative to the repository, ``index`` among the file's fenced blocks."""

    file: str
    index: int
    lang: str
    text: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.index}"


def fenced_blocks(path: Path) -> Iterator[Block]:
    """The fenced (``` or ~~~) code blocks of a Markdown file, indentation of the fence removed from the body."""
    lines = path.read_text().splitlines()
    index, i = 0, 0
    while i < len(lines):
        opening = re.match(r"^( *)(`{3,}|~{3,})\s*([^`\s]*)", lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, lang = len(opening.group(1)), opening.group(2), opening.group(3).lower()
        end = next((j for j in range(i + 1, len(lines))
                    if re.match(rf"^ *{fence[0]}{{{len(fence)},}}\s*$", lines[j])), len(lines))
        body = "\n".join(re.sub(rf"^ {{0,{indent}}}", "", line) for line in lines[i + 1:end])
        yield Block(path.relative_to(REPO).as_posix(), index, lang, body + "\n", i + 1)
        index += 1
        i = end + 1


BLOCKS = [block for path in DOC_FILES for block in fenced_blocks(path)]


def params(lang: str, slow: Collection[tuple[str, str]] = ()) -> list:
    """The blocks of one language as pytest params named ``file:index``, marked slow where ``slow`` says so."""
    out = []
    for block in BLOCKS:
        if block.lang != lang:
            continue
        is_slow = any(file == block.file and key in block.text for file, key in slow)
        out.append(pytest.param(block, id=block.where, marks=[pytest.mark.slow] if is_slow else []))
    return out


def test_blocks_found_and_tagged():
    """The extraction sees every block (each fence line opens or closes one) and knows every block's language."""
    for path in DOC_FILES:
        fences = sum(1 for line in path.read_text().splitlines() if re.match(r"^ *(```|~~~)", line))
        found = sum(1 for block in BLOCKS if block.file == path.relative_to(REPO).as_posix())
        assert fences == 2 * found, f"{path.name}: {fences} fence lines but {found} blocks (an unclosed fence?)"
    assert len(BLOCKS) >= 40
    assert {block.lang for block in BLOCKS} <= {"", "python", "bash", "yaml", "json", "toml"}, \
        "a new code-block language: teach tests/test_docs.py how to check it"
    assert all(block.text.strip() for block in BLOCKS), [b.where for b in BLOCKS if not b.text.strip()]


def block_env(home: Path) -> dict[str, str]:
    """Environment of a block's process: one thread, this checkout's hypergen first on the path, no display."""
    env = dict(os.environ)
    env.update({
        "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "WANDB_MODE": "offline", "HYPERGEN_CACHE": str(home / "cache"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    })
    return env


def failure(what: str, result: subprocess.CompletedProcess) -> str:
    return f"{what} exited with {result.returncode}:\n{result.stdout[-4000:]}"


# ----------------------------------------------------------------------------------------------------------- python


def needs_repo_root(text: str) -> bool:
    """Whether a block reads files of the checkout by relative path (``conf/``, ``benchmarks/``...)."""
    return re.search(r"""["'](conf|benchmarks|examples|scripts|docs|tests)/""", text) is not None


#: What the block server imports before it forks a process per block: third-party libraries only, so a block that
#: forgets to import something (or to import hypergen before a library that needs its shims) still fails.
PRELOADED = ["torch", "torch_geometric"]


@pytest.fixture(scope="module")
def block_server() -> multiprocessing.context.ForkServerContext:
    """A multiprocessing context whose processes fork from a server that has imported :data:`PRELOADED`."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOADED)
    return context


def _run_script(script: str, cwd: str, env: dict[str, str], log: str) -> None:
    """Body of a block's process: ``python script`` as far as the script can tell (its folder first on the path,
    ``__main__``, its own working directory, environment and argv), output to ``log``."""
    import runpy

    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.path[:0] = [str(Path(script).parent), *env.get("PYTHONPATH", "").split(os.pathsep)]
    sys.argv = [script]
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(out, 1)
    os.dup2(out, 2)
    runpy.run_path(script, run_name="__main__")
    sys.stdout.flush()
    sys.stderr.flush()


@pytest.mark.parametrize("block", params("python", SLOW_PYTHON_BLOCKS))
def test_python_block(block: Block, tmp_path: Path, block_server):
    """The block runs as a script in a fresh process and exits with 0."""
    script = tmp_path / f"{block.where.replace('/', '_').replace('.', '_').replace(':', '_')}.py"
    script.write_text(block.text)
    cwd = REPO if needs_repo_root(block.text) else tmp_path
    log = tmp_path / "output.log"
    process = block_server.Process(target=_run_script, args=(str(script), str(cwd), block_env(tmp_path), str(log)))
    process.start()
    process.join(timeout=900)
    if process.exitcode is None:
        process.kill()
        process.join()
    output = log.read_text() if log.exists() else ""
    assert process.exitcode == 0, f"{block.where} (line {block.line}) exited with {process.exitcode}:\n{output[-4000:]}"


# ----------------------------------------------------------------------------------------------- yaml, json, toml


@pytest.mark.parametrize("block", params("json"))
def test_json_block(block: Block):
    """The block is valid JSON."""
    json.loads(block.text)


@pytest.mark.parametrize("block", params("toml"))
def test_toml_block(block: Block):
    """The block is valid TOML (e.g. a pyproject.toml excerpt)."""
    tomllib.loads(block.text)


def conf_path(block: Block) -> str | None:
    """``conf/<group>/<option>.yaml`` when the block's first line names it."""
    first = block.text.lstrip().splitlines()[0]
    match = re.match(r"^#\s*(conf/[\w/]+\.yaml)\b", first)
    return match.group(1) if match else None


@pytest.mark.parametrize("block", params("yaml"))
def test_yaml_block(block: Block, tmp_path: Path):
    """The block parses; if it names its conf file, a copy of conf/ with it composes and holds its values."""
    content = yaml.safe_load(block.text)
    assert isinstance(content, dict), f"{block.where}: a config block should be a mapping"
    path = conf_path(block)
    if path is None:
        return
    group_option = Path(path).relative_to("conf").with_suffix("")
    assert len(group_option.parts) == 2, f"{block.where}: {path} is not a conf/<group>/<option>.yaml file"
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    assert (conf / group_option.parts[0]).is_dir(), f"{block.where}: no config group conf/{group_option.parts[0]}/"
    (tmp_path / path).write_text(block.text)
    cfg = compose(conf, "train", [f"{group_option.parts[0]}={group_option.parts[1]}"], tmp_path)
    selected = cfg[group_option.parts[0]]
    for key, value in content.items():
        if not key.startswith("_") and not isinstance(value, (dict, list)) and not str(value).startswith("$"):
            assert selected[key] == value, f"{block.where}: {group_option.parts[0]}.{key} did not compose"


# ----------------------------------------------------------------------------------------------------------- hydra


def compose(conf: Path, config_name: str, overrides: list[str], run_dir: Path):
    """Compose ``<conf>/<config_name>.yaml`` with command-line ``overrides`` as the entry point would (hydra node
    included) and resolve the job's config with ``hydra.runtime.output_dir = run_dir``; returns the job's config."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = hydra_compose(config_name, overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
    HydraConfig.instance().set_config(cfg)
    job = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    OmegaConf.resolve(job)
    return job


def hydra_jobs(overrides: list[str], multirun: bool) -> list[list[str]]:
    """The jobs a Hydra command line starts: one, or with ``-m`` one per combination of the sweeps' values."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    if not multirun:
        return [overrides]
    choices = []
    for override in parsed:
        if override.is_sweep_override():
            assert not override.is_hydra_override(), f"Hydra cannot sweep its own config: {override.input_line}"
            assert override.is_discrete_sweep(), f"only discrete sweeps are checked: {override.input_line}"
            key = override.get_key_element()
            choices.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            choices.append([override.input_line])
    return [list(job) for job in itertools.product(*choices)]


def check_hydra_app(config_name: str, args: list[str], tmp_path: Path) -> None:
    """A ``hypergen-train`` / ``hypergen-eval`` command line composes: every job of it, hydra overrides included."""
    from hypergen.train.run import config_dir

    multirun = False
    overrides = []
    args = list(args)
    while args:
        arg = args.pop(0)
        if arg in ("-m", "--multirun"):
            multirun = True
        elif arg in ("--cfg", "-c", "--package", "-p", "--info", "-i"):
            args.pop(0)  # takes a value (job/hydra/all, a package, ...)
        elif arg in ("--resolve", "--help", "-h", "--hydra-help"):
            pass
        elif arg.startswith("-"):
            pytest.fail(f"unknown Hydra flag {arg}")
        else:
            overrides.append(arg)
    for job in hydra_jobs(overrides, multirun):
        compose(config_dir(), config_name, job, tmp_path / "run")


# ------------------------------------------------------------------------------------------------------------ bash


def command_lines(text: str) -> list[str]:
    """The logical lines of a shell block: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def commands(line: str) -> list[list[str]]:
    """The commands of one line split at ``&&`` / ``;``, as argument lists without leading ``VAR=value`` pairs."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars="&;|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    out, current = [], []
    for token in lexer:
        if token in ("&&", ";"):
            out.append(current)
            current = []
        else:
            assert token not in ("|", "||", "&"), f"pipes and background jobs are not checked: {line}"
            current.append(token)
    out.append(current)
    for argv in out:
        while argv and re.match(r"^[A-Z_][A-Z0-9_]*=", argv[0]):
            argv.pop(0)
    return [argv for argv in out if argv]


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """``os.chdir`` to ``path`` for the ``with`` body (``contextlib.chdir`` needs Python 3.11)."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def console_scripts() -> dict[str, str]:
    """``[project.scripts]`` of pyproject.toml: console script name -> ``module:function``."""
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]


def program_name(word: str) -> str:
    """``.venv/bin/hypergen`` -> ``hypergen`` (the docs run the set-up script's virtual environment)."""
    return word.removeprefix(".venv/bin/")


@dataclass
class Shell:
    """Checks the commands of one bash block in order, in a scratch folder (files one command writes, the next one
    reads). ``run_slow``: run the slow ``hypergen`` subcommands for real instead of only parsing them."""

    block: Block
    workdir: Path
    run_slow: bool

    def check(self, argv: list[str]) -> None:
        program, args = program_name(argv[0]), argv[1:]
        handler = {
            "hypergen": self.hypergen, "hypergen-train": self.hypergen_train, "hypergen-eval": self.hypergen_eval,
            "python": self.python, "python3": self.python, "bash": self.bash, "wandb": self.wandb, "dot": self.dot,
            "srun": self.srun, "torchrun": self.torchrun,
        }.get(program)
        assert handler is not None, (f"{self.block.where}: no check for the program {argv[0]!r} in "
                                     f"{shlex.join(argv)}; add one to tests/test_docs.py")
        if argv[0].startswith(".venv/bin/") and program not in ("python", "python3"):
            assert program in console_scripts(), f"{argv[0]} is not a console script of pyproject.toml"
        handler(args)

    def run(self, cmd: list[str], what: str) -> subprocess.CompletedProcess:
        result = subprocess.run(cmd, cwd=self.workdir, env=block_env(self.workdir), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=900)
        assert result.returncode == 0, failure(f"{self.block.where}: {what}", result)
        return result

    def hypergen(self, args: list[str]) -> None:
        """Run in this process: ``main`` is the console script's function, and a fresh interpreter per command would
        cost more than most commands (``hypergen graph`` of a torchvision model takes ~1 s after the imports)."""
        from hypergen.cli.main import build_parser, main

        command = shlex.join(["hypergen", *args])
        try:
            parsed = build_parser().parse_args(args)
        except SystemExit:  # argparse printed why
            pytest.fail(f"{self.block.where}: the argument parser rejects {command}")
        if parsed.command in SLOW_SUBCOMMANDS and not self.run_slow:
            return
        out = io.StringIO()
        with working_directory(self.workdir), contextlib.redirect_stdout(out):
            code = main(args)
        assert code == 0, f"{self.block.where}: {command} exited with {code}:\n{out.getvalue()[-4000:]}"

    def hypergen_train(self, args: list[str]) -> None:
        check_hydra_app("train", args, self.workdir)

    def hypergen_eval(self, args: list[str]) -> None:
        from hypergen.evaluate.run import EVAL_CONFIG_NAME

        check_hydra_app(EVAL_CONFIG_NAME, args, self.workdir)

    def python(self, args: list[str]) -> None:
        if args[:2] == ["-m", "hypergen.train"]:
            return self.hypergen_train(args[2:])
        if args[:2] == ["-m", "hypergen.evaluate"]:
            return self.hypergen_eval(args[2:])
        if args[:2] == ["-m", "pytest"]:
            return self.pytest(args[2:])
        assert args and args[0].endswith(".py"), f"{self.block.where}: python {shlex.join(args)} is not checked"
        self.script_flags(args[0], args[1:])

    def script_flags(self, script: str, args: list[str]) -> None:
        """The script exists and every ``--flag`` of the command appears in its ``--help``."""
        assert (REPO / script).is_file(), f"{self.block.where}: no {script} in the repository"
        flags = {arg.split("=")[0] for arg in args if arg.startswith("--")}
        if flags:
            result = subprocess.run([sys.executable, str(REPO / script), "--help"], cwd=REPO,
                                    env=block_env(self.workdir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, timeout=300)
            assert result.returncode == 0, failure(f"{script} --help", result)
            missing = sorted(flag for flag in flags if not re.search(rf"{re.escape(flag)}\b", result.stdout))
            assert not missing, f"{self.block.where}: {script} --help does not list {missing}"

    def pytest(self, args: list[str]) -> None:
        """Not run (it would be this test suite); its marker expression and paths must exist."""
        markers = {"slow", "not"} | {m.split(":")[0] for m in tomllib.loads((REPO / "pyproject.toml").read_text())
                                     ["tool"]["pytest"]["ini_options"]["markers"]}
        args = list(args)
        while args:
            arg = args.pop(0)
            if arg == "-m":
                expression = args.pop(0)
                assert set(re.findall(r"\w+", expression)) <= markers | {"and", "or"}, f"unknown marker: {expression}"
            elif not arg.startswith("-"):
                assert (REPO / arg.split("::")[0]).exists(), f"{self.block.where}: no {arg} in the repository"

    def bash(self, args: list[str]) -> None:
        assert args and (REPO / args[0]).is_file(), f"{self.block.where}: no script {args[0]} in the repository"

    def wandb(self, args: list[str]) -> None:
        """``wandb sweep FILE``: the sweep file exists and parses; ``agent``/``sync`` take ids and run folders."""
        assert args and args[0] in ("sweep", "agent", "sync", "login"), f"wandb {args[0]} is not checked"
        if args[0] == "sweep":
            sweep = REPO / args[-1]
            assert sweep.is_file(), f"{self.block.where}: no {args[-1]} in the repository"
            config = yaml.safe_load(sweep.read_text())
            assert {"method", "parameters", "command"} <= set(config), f"{args[-1]} is not a W&B sweep config"

    def dot(self, args: list[str]) -> None:
        """Graphviz: run where installed; otherwise the input files must exist (written by earlier commands)."""
        if shutil.which("dot"):
            self.run(["dot", *args], shlex.join(["dot", *args]))
            return
        inputs = [arg for i, arg in enumerate(args) if not arg.startswith("-") and (i == 0 or args[i - 1] != "-o")]
        assert inputs and all((self.workdir / arg).is_file() for arg in inputs), \
            f"{self.block.where}: dot's input {inputs} was not written by an earlier command"

    def srun(self, args: list[str]) -> None:
        """SLURM: the command after srun's own options."""
        while args and args[0].startswith("-"):
            args = args[1:]
        self.check(args)

    def torchrun(self, args: list[str]) -> None:
        """torchrun's own ``--key=value`` options, then ``-m module args`` or ``script args``."""
        args = list(args)
        while args and args[0].startswith("--"):
            args.pop(0)
        if args[0] == "-m":
            module, rest = args[1], args[2:]
            entry = {"hypergen.train": self.hypergen_train, "hypergen.evaluate": self.hypergen_eval}
            assert module in entry, f"torchrun -m {module} is not checked"
            entry[module](rest)
        else:
            self.script_flags(args[0], args[1:])


def bash_params(slow: bool) -> list:
    """Bash blocks; with ``slow``, only those that have a slow ``hypergen`` subcommand (run for real then)."""
    out = []
    for param in params("bash"):
        block = param.values[0]
        has_slow = any(program_name(argv[0]) == "hypergen" and len(argv) > 1 and argv[1] in SLOW_SUBCOMMANDS
                       for line in command_lines(block.text) for argv in commands(line))
        if not slow:
            out.append(param)
        elif has_slow:
            out.append(pytest.param(block, id=block.where, marks=pytest.mark.slow))
    return out


def check_bash_block(block: Block, workdir: Path, run_slow: bool) -> None:
    """Check the block's commands in order in ``workdir`` (see :class:`Shell`)."""
    shell = Shell(block, workdir, run_slow)
    lines = command_lines(block.text)
    assert lines, f"{block.where}: an empty bash block"
    for line in lines:
        for argv in commands(line):
            shell.check(argv)


@pytest.mark.parametrize("block", bash_params(slow=False))
def test_bash_block(block: Block, tmp_path: Path):
    """Every command of the block checks out; slow ``hypergen`` subcommands are only parsed."""
    check_bash_block(block, tmp_path, run_slow=False)


@pytest.mark.parametrize("block", bash_params(slow=True))
def test_bash_block_runs(block: Block, tmp_path: Path):
    """Every command of the block checks out, slow ``hypergen`` subcommands run for real."""
    try:
        check_bash_block(block, tmp_path, run_slow=True)
    finally:  # pytest keeps the last runs' folders; GPT-2-large's predicted weights alone are 3 GB
        for path in tmp_path.iterdir():
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
