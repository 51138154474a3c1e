import os
import shutil
import tempfile
from types import SimpleNamespace

# Every run artifact of the test session (the runner's and the nbval kernels') goes to a
# fresh folder, never into the user's runs/. Set before any kernel starts, so they inherit it.
os.environ["TOKEDIT_RUNS"] = tempfile.mkdtemp(prefix="toedit-test-runs-")
# nbval's kernels import this checkout's package, as the runner's do (an editable install of
# another clone would otherwise win)
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PATH = [_ROOT, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(_PATH))
for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(name, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_sessionfinish(session, exitstatus):
    """Remove the session's runs folder (about 50 MB) when every test passed; after a failure
    it stays, since the errors point into it (the executed notebook with the error)."""
    if exitstatus == 0:
        shutil.rmtree(os.environ["TOKEDIT_RUNS"], ignore_errors=True)


# ------------------------------------------------------------------ shared engine fixtures
# A small BPE and a tiny random GPT-2 on the embedded corpus, for the tests of the editing
# engine, the command and the cluster step. Modules that want one thread per test module
# say ``pytestmark = pytest.mark.usefixtures("one_thread")``.

import nbformat  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from tokedit_utils.toolkit import data, paths
from tokedit_utils.toedit import records  # noqa: E402


def _corpus() -> list[dict]:
    return [record for name in data.domains()
            for _, record in records.iter_records(paths.CORPUS_DIR / f"{name}.jsonl.gz")]


@pytest.fixture(scope="module")
def one_thread():
    # tiny models: thread hand-off costs more than it saves, and on a shared 2-core
    # machine two spinning OpenMP threads can be ~10x slower than one
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def corpus():
    return _corpus()


@pytest.fixture(scope="session")
def tok(corpus):
    from tokedit_utils.toolkit.models import train_tokenizer

    return train_tokenizer([r["text"] for r in corpus[::25]], 512, min_frequency=0)


@pytest.fixture(scope="session")
def random_gpt2():
    """``random_gpt2(tok, initializer_range)``: a seeded, untrained 2-layer GPT-2 (context 64)
    on ``tok``, with the given ``initializer_range``."""
    from transformers import GPT2Config, GPT2LMHeadModel

    def build(tok, initializer_range: float):
        torch.manual_seed(0)
        config = GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=2, n_head=2, bos_token_id=0,
                            eos_token_id=0, pad_token_id=0, initializer_range=initializer_range)
        return GPT2LMHeadModel(config).eval()

    return build


@pytest.fixture(scope="session")
def gpt2(tok, random_gpt2):
    return random_gpt2(tok, 0.2)


@pytest.fixture(scope="session")
def texts(corpus):
    # a few documents of mixed lengths (short ones and ones far longer than the context)
    picked = corpus[::150][:14]
    return [r["text"][: 150 + 97 * i] for i, r in enumerate(picked)]


@pytest.fixture(scope="session")
def prior_dir(tmp_path_factory, tok, gpt2):
    path = tmp_path_factory.mktemp("prior")
    gpt2.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def packaged_prior():
    """The packaged prior ``smollm2-135m-instruct``, loaded once per session (its GGUF takes
    about 30 s to dequantize), offline; while the session lasts, the engine's loader hands
    out this copy for that name, so the command run in-process does not load it again."""
    from tokedit_utils.toedit import editor, prior

    name = "smollm2-135m-instruct"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        model, tokenizer = prior.load_causal_lm(name, device="cpu")
        real = editor.load_causal_lm

        def cached(model_name, device=None, dtype=None):
            return (model, tokenizer) if str(model_name) == name else real(model_name, device=device, dtype=dtype)

        mp.setattr(editor, "load_causal_lm", cached)
        yield model, tokenizer


# ------------------------------------------------------------------ a toy chain
# Two one-cell notebooks, the second reading the first, run by the real runner (papermill,
# a kernel per stage) under a small profile: the runner's tests (test_book, test_cache,
# test_guard, test_progress) use it. Here, so that its first run is made once per session.


def _notebook(path, params_src, body):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(params_src)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)


BODY = """
from tokedit_utils.toolkit import paths
out = paths.output_dir(profile, STEM)
(out / "artifact.txt").write_text(f"{value}")
if value == 13:
    raise RuntimeError("unlucky value")
paths.write_results(out, {"value": value})
"""


def _make_toy(root):
    nbs, profiles = root / "notebooks", root / "profiles"
    nbs.mkdir()
    profiles.mkdir()
    _notebook(nbs / "01_first.ipynb", 'profile = "default"\nvalue = 1', BODY.replace("STEM", repr("01_first")))
    # the second stage reads the first (the runner infers the dependency from this call)
    _notebook(nbs / "02_second.ipynb", 'profile = "default"\nvalue = 1',
              BODY.replace("STEM", repr("02_second")) + 'paths.read_results(profile, "01_first")\n')
    (profiles / "small.yml").write_text(yaml.safe_dump({"01_first": {"value": 2}}))
    return nbs, profiles


@pytest.fixture()
def toy(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKEDIT_RUNS", str(tmp_path / "runs"))
    return _make_toy(tmp_path)


def _run(toy, profile="small", cells=False, **kw):
    """Run the toy chain; its log, without the per-cell progress lines unless ``cells``."""
    from tokedit_utils import book

    logs = []
    book.run_chain(profile, notebooks_dir=toy[0], profiles_dir=toy[1], log=logs.append, **kw)
    return logs if cells else [line for line in logs if ":   cell" not in line]


@pytest.fixture(scope="session")
def toy_first_run(tmp_path_factory):
    """The toy chain's first run, once per session: ``runs`` (its folder), ``logs`` (its whole
    log, the per-cell lines included) and ``report`` (its rows). Each stage is a kernel start,
    so a test that starts from a finished chain copies this run (``_finish``) rather than
    running the chain again."""
    root = tmp_path_factory.mktemp("toy-first-run")
    report = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TOKEDIT_RUNS", str(root / "runs"))
        logs = _run(_make_toy(root), cells=True, report=report)
    return SimpleNamespace(runs=root / "runs", logs=logs, report=report)


def _finish(toy_first_run):
    """Leave the (untouched) toy chain of this test as its first run left it: the stages and
    their stamps, copied (a stamp's key holds no path, so the copy is as good as a run)."""
    shutil.copytree(toy_first_run.runs, paths.runs_root())


# ------------------------------------------------------------------ nbval runs the smoke chain
# nbval executes tests/notebooks/*.ipynb in chain order. Each one runs into the stage's
# temporary folder, as under the runner; when all its cells passed, the runner stamps it and
# renames it into place (book.adopt_stage), so the smoke chain, book, results and page tests
# reuse these executions instead of running every notebook again.

import ast  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REFERENCES = Path(__file__).resolve().parent / "notebooks"
_nbval: dict[Path, dict] = {}
#: What became of each notebook nbval executed: "adopted", or why not (test_notebooks checks).
ADOPTED: dict[str, str] = {}


def _nbval_notebook(item):
    path = Path(str(getattr(item.parent, "fspath", "")))
    return path if path.suffix == ".ipynb" and path.parent == REFERENCES else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    nb = _nbval_notebook(item)
    if nb is not None and nb not in _nbval:  # before nbval starts this notebook's kernel
        from tokedit_utils import book

        tmp = book.partial_dir("smoke", nb.stem)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        os.environ["TOKEDIT_STAGE_DIR"] = str(tmp)
        _nbval[nb] = {"items": [], "failed": False, "start": time.perf_counter()}
    if nb is not None:
        _nbval[nb]["items"].append(item)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    nb = _nbval_notebook(item)
    if nb is not None and (report.failed or report.skipped):
        _nbval[nb]["failed"] = True


def pytest_runtest_teardown(item, nextitem):
    nb = _nbval_notebook(item)
    if nb is None or (nextitem is not None and _nbval_notebook(nextitem) == nb):
        return
    from tokedit_utils import book

    os.environ.pop("TOKEDIT_STAGE_DIR", None)
    state = _nbval.pop(nb)
    executed = nbformat.read(nb, as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    ran = [i.test_outputs for i in state["items"]]
    if state["failed"] or len(ran) != len(code) or any(out is None for out in ran):
        shutil.rmtree(book.partial_dir("smoke", nb.stem), ignore_errors=True)
        ADOPTED[nb.stem] = "not adopted: a cell failed or did not run"
        return
    for n, (cell, outputs) in enumerate(zip(code, ran), start=1):
        cell.outputs, cell.execution_count = outputs, n
    injected = next(c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", []))
    params = {n.targets[0].id: ast.literal_eval(n.value) for n in ast.parse(injected.source).body}
    source = book.NOTEBOOKS_DIR / nb.name
    ADOPTED[nb.stem] = book.adopt_stage(source, "smoke", executed, params, time.perf_counter() - state["start"])


@pytest.fixture(scope="session")
def smoke_html():
    """The smoke book, built once per session from the smoke chain (nbval's, when it ran)."""
    from tokedit_utils import book

    book.run_chain("smoke")
    return book.build_book("smoke")
