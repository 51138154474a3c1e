"""What a smoke run of the chain must show: every chapter's results.json has its keys, the
claims carry valid verdicts with their statistics, and the directions that even the smoke
sizes can show hold (training lowers loss, iterated replacement grows the error, ...).

The chain runner caches stages, so this reuses the smoke run of the book test when it exists.
"""

import math

import pytest

from tokedit_utils import book
from tokedit_utils.toolkit import paths, stats


@pytest.fixture(scope="module")
def smoke():
    book.run_chain("smoke")
    return {nb.stem: paths.read_results("smoke", nb.stem) for nb in book.chain()}


def test_every_claim_has_a_valid_verdict(smoke):
    for stem, results in smoke.items():
        for name, claim in results.get("claims", {}).items():
            assert claim["verdict"] in stats.VERDICTS, (stem, name)
            assert claim["statement"] and claim["ours"] and claim["paper"], (stem, name)
            assert claim["metric"] and claim["contradicted_by"], (stem, name)


def test_corpora_chapter(smoke):
    ch1 = smoke["01_corpora"]
    assert set(ch1) >= {"domains", "corpus", "tokenizer", "teacher", "synthetic", "mixtures"}
    teacher = ch1["teacher"]
    # training lowers the loss from that of a uniform guess over the vocabulary
    assert teacher["loss_curve"][-1]["loss"] < teacher["loss_curve"][0]["loss"] <= math.log(
        ch1["tokenizer"]["vocab_size"]) + 0.5
    assert ch1["synthetic"]["tokens"] >= ch1["mixtures"]["tokens"]
    assert len(ch1["mixtures"]["files"]) == len(ch1["mixtures"]["ratios"])
    for temp, file in ch1["mixtures"]["temperature_sweep"].items():
        assert float(temp) != ch1["synthetic"]["temperature"] and file.startswith("mixtures/")


def test_collapse_chapter_pairs_every_arm(smoke):
    ch2 = smoke["02_collapse"]
    seeds, ratios = ch2["seeds"], ch2["ratios"]
    # every arm is trained with every seed: the claims compare paired arms
    assert sorted((r["ratio"], r["seed"]) for r in ch2["runs"]) == sorted(
        (r, s) for r in ratios for s in seeds)
    assert {r["seed"] for r in ch2["sweep_runs"]} == set(seeds)
    # artifacts point inside the stage, not at the temporary folder it ran in
    for run in ch2["runs"]:
        assert not run["folder"].startswith("/") and ".partial" not in run["folder"]
    # each epoch lowers the pure-human student's held-out PPL, even at smoke size
    human = [r for r in ch2["runs"] if r["ratio"] == 0.0]
    assert all(r["ppl_curve"][-1]["ppl_mean"] < r["ppl_curve"][0]["ppl_mean"] for r in human)
    for claim in ch2["claims"].values():
        tests = claim.get("tests") or ([claim["test"]] if "test" in claim else [])
        tests = tests.values() if isinstance(tests, dict) else tests
        for t in tests:
            assert t["n"] == len(seeds) and t["mde"] is not None and t["mde"] > 0
    assert set(ch2["power"]) >= {"student_to_teacher_ppl", "seed_sd_pct", "teacher_tasks"}


def test_theory_chapter_directions(smoke):
    ch5 = smoke["05_theory"]
    base = ch5["base"]
    replace, accumulate = ch5["replace"]["mean"], ch5["accumulate"]["mean"]
    assert replace[-1] > 2 * replace[0]  # replace keeps growing
    assert max(accumulate) < ch5["accumulate_limit"] * 1.2  # accumulate stays bounded
    assert ch5["edit"]["theorem1_exact"]
    assert replace[0] == pytest.approx(base, rel=0.3)


def test_training_chapter(smoke):
    ch6 = smoke["06_training"]
    for regime in ("pt", "cpt", "sft"):
        result = ch6["regimes"][regime]
        seeds = result["seeds"]
        assert len(seeds) >= 2 and set(result["delta"]) <= set(result["source"]) == set(result["edited"])
        for metric, d in result["delta"].items():
            assert len(result["source"][metric]) == len(result["edited"][metric]) == len(seeds)
            diffs = [e - s for e, s in zip(result["edited"][metric], result["source"][metric])]
            assert d["mean"] == pytest.approx(sum(diffs) / len(diffs))  # edited − source, paired by seed
            assert d["verdict"] in ("better", "worse", "no difference within noise")
    assert set(ch6["edit_stats"]) == {"pt", "cpt_domain", "sft_gen1", "sft_gen2"}
    assert all(0 <= s["changed_share"] <= s["flagged_share"] <= 1 for s in ch6["edit_stats"].values())
    assert [len(v) for v in ch6["generations"]["metrics"]["response_ppl"]] == [len(seeds)] * 3
    assert set(ch6["claims"]) == {f"{k}_edited_{part}" for k in ("pt", "cpt", "sft")
                                  for part in ("helps", "not_worse")} | {"generations_stable"}
    assert ch6["paper"]["pt"]["OLMo-1B"] == pytest.approx(0.36)
