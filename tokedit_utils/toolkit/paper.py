"""The paper's settings and numbers, in one place, each name with one meaning.

Zhu et al., "How to Synthesize Text Data without Model Collapse?" (ICML 2025, arXiv
2412.14689). Versions: v1 and v3 of the arXiv paper differ in a few tables; each constant says
which it quotes. The chapters compare their own numbers with these and never type a paper
number anywhere else.
"""

# --------------------------------------------------------------------------- editing settings
#: The official editing settings (section 4.3): threshold p, top-k candidates k, temperature beta.
THRESHOLD, K, BETA = 0.99, 8, 1.5

# --------------------------------------------------------------------------- chapter 2
#: Table 1 (v1): GPT-2 124M, PPL averaged over the 22 Pile subdomains, at 0/25/50/75/100% synthetic.
MIX_RATIOS = [0.0, 0.25, 0.5, 0.75, 1.0]
TABLE1_PPL_MEAN = [21.37, 22.31, 23.90, 27.03, 49.30]
#: Table 9: GPT-2 124M, average 0-shot accuracy (%) over 7 tasks of Maini et al.
TABLE9_GPT2_ACC = [41.69, 40.71, 41.62, 41.24, 40.26]
#: Table 11: OLMo-237M, average 0-shot accuracy (%) over 6 tasks.
TABLE11_OLMO_ACC = [33.68, 33.59, 33.25, 32.83, 32.68]

# --------------------------------------------------------------------------- chapter 3
#: Section 3.2: synthetic PPL spans [0, 14] (v3), human [0, 100+], and the synthetic mass sits
#: in about the lowest quarter of the human distribution.
SYNTHETIC_PPL_RANGE = (0, 14)
HUMAN_PPL_RANGE = (0, 100)
SYNTHETIC_QUANTILE = 0.25
#: Table 14 (v3), OLMo-237M, Wikitext-103 PPL of students trained on selections, and the
#: pure-synthetic and pure-human references quoted beside it.
TABLE14_WIKITEXT = {"DSIR (1M)": 1309.53, "DSIR (10M)": 1757.03, "PPL filter (1M)": 738.36,
                    "PPL filter (10M)": 1193.25}
WIKITEXT_SYNTHETIC, WIKITEXT_HUMAN = 1605.73, 187.36

# --------------------------------------------------------------------------- chapter 4
#: Table 6 (biomedicine CPT corpus, Qwen2-0.5B-Instruct as prior): percent of tokens per
#: interval [0,.1), [.1,.2), ..., [.9,1.0], and the exact counts printed in v1.
TABLE6_PERCENT = (34.7, 8.1, 5.4, 4.4, 3.8, 3.6, 3.7, 4.0, 5.2, 27.1)
TABLE6_TOKENS = (388_626_330, 90_716_809, 60_477_872, 49_278_266, 42_558_503,
                 40_318_546, 41_438_924, 44_798_424, 58_238_944, 303_543_988)
#: Table 6: the share of tokens at P < 0.1 (its first interval).
SHARE_BELOW_0_1 = 0.347
#: Fig. 5 (Dolma sample, Qwen-0.5B-Instruct): "75% is under 0.6 probability".
Q75 = 0.6
#: Table 15 (Natural Instructions, 4,671,834 tokens): tokens with P > 0.99 in generations
#: 1 (the source), 2 and 3, their shares, and the geometric fit f1 = 0.125, eta = 0.94.
TABLE15_FLAGGED = (584_103, 549_519, 517_433)
TABLE15_TOKENS = 4_671_834
TABLE15_FLAGGED_SHARES = [0.125, 0.1176, 0.1108]
FLAGGED_SHARE = 0.125  # generation 1 of Table 15: the share of tokens a real prior flags
ETA = 0.94
#: Derived from the official sampler at these settings: 4-8% of flagged tokens change, so
#: 12.5% flagged x 4-8% = 0.5-1% of all tokens are rewritten per pass; the dose-matched
#: threshold aims at the upper end, about 1% of all tokens.
CHANGED_OF_FLAGGED = (0.04, 0.08)
CHANGED_SHARE = 0.01

# --------------------------------------------------------------------------- chapter 6
#: Table 2: OLMo-1B pre-trained from scratch, average 0-shot accuracy over 8 tasks (source, ToEdit).
TABLE2_PT = {"OLMo-1B": (32.75, 33.11)}
#: Table 3: continual pre-training, average over each domain's 5 tasks (CPT row, ToEdit row).
TABLE3_CPT = {"OLMo-1B biomedicine": (38.83, 40.89), "Llama-3-8B biomedicine": (56.04, 56.48),
              "OLMo-1B finance": (47.92, 50.21), "Llama-3-8B finance": (71.40, 72.24),
              "OLMo-1B math": (16.26, 16.59)}
#: Table 4: Llama-3-8B fine-tuned with LoRA, average over the tasks of each group (source, ToEdit).
TABLE4_SFT = {"Natural Instructions": (69.34, 69.70), "CoT": (69.01, 69.26), "FLAN v2": (70.18, 70.65),
              "Open Assistant 1": (69.19, 69.44), "OSS-Instruct-75K": (45.76, 46.13),
              "Evol-Instruct-110K": (46.62, 46.92)}
#: Table 16: SFT on CoT data over editing generations 0, 1, 2: average over 5 tasks.
TABLE16_GENERATIONS = [69.01, 69.26, 69.39]

# --------------------------------------------------------------------------- chapter 7
#: Table 5 (v3; the p <= 0.001 row only in v1): OLMo-1B biomedicine, accuracy on PubMedQA,
#: MQP, RCT, USMLE, ChemProt and their average.
TABLE5_COLUMNS = ("PubMedQA", "MQP", "RCT", "USMLE", "ChemProt", "Avg")
TABLE5_THRESHOLDS = {"p ≥ 0.99": (64.50, 55.73, 30.95, 27.65, 14.60, 38.69),
                     "p ≥ 0.999": (63.60, 55.40, 29.09, 28.12, 16.20, 38.48),
                     "p ≤ 0.1": (62.40, 51.47, 25.60, 29.14, 10.00, 35.72),
                     "p ≤ 0.01": (65.40, 54.91, 28.19, 27.80, 11.00, 37.46),
                     "p ≤ 0.001": (64.2, 56.39, 35.0, 27.80, 12.4, 39.16)}
#: Table 5's thresholds: tokens resampled above a high one, deleted below a low one.
HIGH_THRESHOLDS, LOW_THRESHOLDS = (0.99, 0.999), (0.1, 0.01, 0.001)
#: Tables 7 and 8: accuracy on PubMedQA, MedMCQA, MedQA (4 options).
TABLE7_COLUMNS = ("PubMedQA", "MedMCQA", "MedQA")
TABLE7_SAMPLERS = {"top-k": (64.50, 26.13, 24.82), "top-p": (63.80, 27.11, 25.61),
                   "rejection": (64.50, 28.90, 28.20)}
TABLE8_K = {"k = 8": (64.50, 26.13, 24.82), "k = 64": (63.80, 28.14, 27.34)}
