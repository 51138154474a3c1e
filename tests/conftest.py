import os
import shutil
import tempfile

# Every run artifact of the test session (the runner's and the nbval kernels') goes to a
# fresh folder, never into the user's runs/. Set before any kernel starts, so they inherit it.
os.environ["TOKEDIT_RUNS"] = tempfile.mkdtemp(prefix="toedit-test-runs-")
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

import pytest  # noqa: E402
import torch  # noqa: E402

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
