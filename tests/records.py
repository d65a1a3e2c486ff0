"""Hand-written sample records of every schema, shared by tests."""

LINEAGE = {"dataset": "t", "dataset_version": "1", "spec_hash": "ab" * 32, "producer_version": "synthstream@0",
           "generator": "procedural.linear@1", "model": "procedural", "verifier": None,
           "prompted_at": 1_700_000_000_000, "generated_at": 1_700_000_000_100, "verified_at": None,
           "accepted_at": None, "seed_source": None, "seed_row": None, "seed_hash": None}
PROMPT = {"prompt_id": "t-1", "task": "math.linear", "seed": 42, "instruction": "Solve: ünïcode ✓",
          "dimensions": {"difficulty": "integer", "domain": "algebra"}, "params": {"error_rate": "0"},
          "threshold": 0.85, "lineage": LINEAGE,
          "model": {"name": "gemma3-270m", "api": "completion", "temperature": 0.7, "top_p": 0.95, "max_tokens": 256,
                    "n": 1, "stop": ["\nProblem:"], "seeded": True}}
USAGE = {"model": "gemma3-270m", "prompt_tokens": 150, "completion_tokens": 35, "requests": 3, "attempts": 4,
         "latency_ms": 812.5, "cost_usd": 0.0}
CODE = {"prompt": "def add(a, b):\n    \"\"\"Sum.\"\"\"\n", "completion": "    return a + b\n",
        "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n", "entry_point": "add",
        "spec_source": "catalogue"}
GROUNDING = {"doc_id": "nile", "chunk": 0, "context": "The Nile flows north.", "evidence": "The Nile flows north.",
             "question": "Which way does the Nile flow?", "answer": "North"}
GENERATION = {"prompt_id": "t-1", "task": "math.linear", "problem": "Solve for x: 2*x + 1 = 5",
              "equation": "2*x + 1 = 5", "steps": ["2*x + 1 = 5", "2*x = 4", "x = 2"], "answer": "2",
              "response": "Step 1 ...\nAnswer: x = 2", "reference_answer": "2",
              "dimensions": {"difficulty": "integer"}, "threshold": 0.85, "lineage": LINEAGE,
              "messages": [{"role": "user", "content": "Solve for x: 2*x + 1 = 5"},
                           {"role": "assistant", "content": "Step 1 ...\nAnswer: x = 2"}],
              "samples": [], "sample_answers": [],
              "code": CODE, "grounding": GROUNDING, "usage": USAGE, "parse_error": None, "checks": None}
VALIDATORS = [{"name": "task", "version": "math.linear-exact@1", "score": 1.0, "weight": 1.0, "veto": False,
               "reasons": []},
              {"name": "diversity", "version": "distinct-123@1", "score": 0.5, "weight": 0.0, "veto": False,
               "reasons": ["low_diversity: distinct-1/2/3 0.30 < 0.60"]}]
VERDICT = {"prompt_id": "t-1", "accepted": True, "quality_score": 1.0, "threshold": 0.85, "reasons": [],
           "generation": GENERATION, "validators": VALIDATORS}
ACCEPTED = {"record_id": "f" * 32, "prompt_id": "t-1", "task": "math.linear",
            "messages": [{"role": "user", "content": "Solve"}, {"role": "assistant", "content": "x = 2"}],
            "answer": "2", "quality_score": 1.0, "dimensions": {"difficulty": "integer"},
            "lineage": dict(LINEAGE, accepted_at=1_700_000_000_300), "code": CODE, "grounding": None, "usage": USAGE,
            "validators": VALIDATORS}
BIAS = {"dataset": "t", "window_start": 1, "window_end": 2, "records": 3, "closed_by": "count",
        "dimensions": [{"dimension": "task", "observed": {"a": 1.0}, "target": {"a": 1.0}, "psi": 0.0,
                        "jsd": 0.0, "status": "ok"}],
        "length_bins": {"100-200": 0.75, "200-400": 0.25}, "length_psi": 0.02, "length_status": "ok",
        "diversity": {"mean_length": 150.0, "distinct_1": 0.5, "distinct_2": 0.8, "distinct_3": 0.9,
                      "compression_ratio": 2.5, "top_opening": "to solve the", "top_opening_share": 0.4},
        "detectors": {"gendered_share": 0.1, "refusal_share": 0.0},
        "source_offsets": {"0": 120, "3": 7}, "length_reference": {"100-200": 0.5, "200-400": 0.5}}
BIAS_RESTART_ADDED = {"source_offsets": {}, "length_reference": {}}
BIAS_ADDED = {"length_bins": {}, "length_psi": None, "length_status": "no_target", "diversity": None, "detectors": {},
              **BIAS_RESTART_ADDED}
DEAD = {"stage": "generation", "reason": "corrupt", "detail": "bad", "source_topic": "x", "source_partition": 0,
        "source_offset": 5, "original_key": b"k", "original_value": b"\x00\xff", "prompt_id": None,
        "failed_at": 1_700_000_000_000}
OUTCOME = {"prompt_id": "t-1", "outcome": "ACCEPTED", "stage": "dedup", "reason": None, "record_id": "f" * 32,
           "task": "math.linear", "decided_at": 1_700_000_000_000}
PROCEDURAL_PROMPT = dict(PROMPT, model=None)
MODEL_GENERATION = dict(GENERATION, samples=["Answer: x = 2", "Answer: 2", "x = 3"], sample_answers=["2", "2", "3"])
LABEL = {"prompt_id": "t-1", "task": "math.linear", "label": "reject", "gate_accepted": True, "quality_score": 1.0,
         "reviewer": "ana", "note": "step 2 divides by the wrong number", "labelled_at": 1_700_000_000_500}
DEDUP_ENTRY = {"record_id": "e" * 32, "prompt_id": "t-1", "scope": "t\x1fmath linear", "text": "solve for x",
               "task": "math.linear", "added_at": 1_700_000_000_000, "embedded": True}
SAMPLES = {"Prompt": PROMPT, "Generation": MODEL_GENERATION, "Verdict": VERDICT, "AcceptedRecord": ACCEPTED,
           "BiasReport": BIAS, "DeadLetter": DEAD, "Outcome": OUTCOME, "ReviewLabel": LABEL,
           "PreferencePair": {
               "pair_id": "t-1:0>1", "prompt_id": "t-1", "task": "math.linear",
               "prompt": [{"role": "user", "content": "Solve x + 1 = 3 ✓"}], "chosen": "x = 2\nAnswer: 2",
               "rejected": "x = 3\nAnswer: 3", "chosen_score": 1.0, "rejected_score": 0.0,
               "chosen_reasons": ["answer_correct: 2"], "rejected_reasons": ["answer_wrong: 3 is not 2"],
               "judged_by": "math", "lineage": LINEAGE},
           "DedupEntry": DEDUP_ENTRY, "DatasetVersion": {
               "name": "t", "version": "v1", "tagged_at": 1_700_000_000_000, "offsets": {"0": 12, "1": 0},
               "records": 10, "per_task": {"math.linear": 10}, "spec_hashes": {"ab" * 32: 10}, "bias": None,
               "note": "first ✓"}}
