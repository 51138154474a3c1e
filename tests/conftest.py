import os
import tempfile

# Every run artifact of the test session (the runner's and the nbval kernels') goes to a
# fresh folder, never into the user's runs/. Set before any kernel starts, so they inherit it.
os.environ["TOKEDIT_RUNS"] = tempfile.mkdtemp(prefix="toedit-test-runs-")
for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(name, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
