"""A tiny local copy of every task of the suite, with the columns of its Hub dataset: for the tests, the demo and
a smoke run of a real checkpoint without network.

Example::

    from biomed.eval.llm.fixtures import write_tiny_suite

    folder = write_tiny_suite("tiny-suite")   # tiny-suite/medqa_4options/test.parquet, ...
    # biomed eval llm CHECKPOINT --data-dir tiny-suite

The questions are written for these fixtures (simple textbook facts), not taken from the benchmarks.
"""

from __future__ import annotations

from pathlib import Path

from biomed.eval.llm.suite import SUITE


# (question, four options, index of the right one): reused across tasks in each dataset's own column layout
_QUESTIONS = [
    ("Which organ produces insulin?", ["Liver", "Pancreas", "Spleen", "Kidney"], 1),
    ("Which vitamin deficiency causes scurvy?", ["Vitamin C", "Vitamin D", "Vitamin A", "Vitamin K"], 0),
    ("Which blood cells carry oxygen?", ["Platelets", "Neutrophils", "Erythrocytes", "Lymphocytes"], 2),
    ("Which bone is in the thigh?", ["Tibia", "Radius", "Humerus", "Femur"], 3),
    (
        "Which chamber pumps blood into the aorta?",
        ["Left ventricle", "Right atrium", "Left atrium", "Right ventricle"],
        0,
    ),  # fmt: skip
    ("Which gas is exchanged for oxygen in the alveoli?", ["Nitrogen", "Carbon dioxide", "Helium", "Argon"], 1),
]
_FRENCH = [
    ("Quel organe produit l'insuline ?", ["Le foie", "Le pancréas", "La rate", "Le rein", "Le cœur"], 1),
    ("Quelle carence cause le scorbut ?", ["Vitamine C", "Vitamine D", "Vitamine A", "Vitamine K", "Fer"], 0),
    (
        "Quelles cellules transportent l'oxygène ?",
        ["Plaquettes", "Neutrophiles", "Hématies", "Lymphocytes", "Monocytes"],
        2,
    ),  # fmt: skip
    ("Quel os forme la cuisse ?", ["Tibia", "Radius", "Humérus", "Fémur", "Péroné"], 3),
    (
        "Quel gaz est échangé contre l'oxygène dans les alvéoles ?",
        ["Azote", "Dioxyde de carbone", "Hélium", "Argon", "Néon"],
        1,
    ),  # fmt: skip
    (
        "Quel est l'antidote du paracétamol ?",
        ["N-acétylcystéine", "Naloxone", "Flumazénil", "Atropine", "Vitamine K"],
        0,
    ),  # fmt: skip
    (
        "Quelle hormone est sécrétée par la thyroïde ?",
        ["Cortisol", "Thyroxine", "Insuline", "Glucagon", "Prolactine"],
        1,
    ),  # fmt: skip
]


def _medqa(i, q, options, answer):
    return {"id": f"fixture-{i}", "sent1": q, "sent2": "", **{f"ending{k}": o for k, o in enumerate(options)},
            "label": answer}  # fmt: skip


def _medmcqa(i, q, options, answer):
    return {"id": f"fixture-{i}", "question": q, **dict(zip(("opa", "opb", "opc", "opd"), options)), "cop": answer,
            "choice_type": "single", "exp": "", "subject_name": "Physiology", "topic_name": ""}  # fmt: skip


def _pubmedqa(i, q, options, answer):
    decision = ("yes", "no", "maybe")[i % 3]
    context = f"We studied {options[0].lower()} in 40 patients. The answer to the question was {decision}."
    return {"QUESTION": q, "CONTEXTS": [context], "LABELS": ["RESULTS"], "MESHES": [], "YEAR": "2020",
            "reasoning_required_pred": decision, "reasoning_free_pred": decision, "final_decision": decision,
            "LONG_ANSWER": context}  # fmt: skip


def _mmlu(subject):
    def row(i, q, options, answer):
        return {"question": q, "subject": subject, "choices": options, "answer": answer}

    return row


def _french(i, q, options, answer):
    return {"id": f"fixture-{i}", "question": q, **{f"answer_{k}": o for k, o in zip("abcde", options)},
            "correct_answers": answer, "number_correct_answers": 1}  # fmt: skip


def write_tiny_suite(folder: str | Path, tasks: list[str] | None = None) -> Path:
    """Write ``folder/<task>/<split>.parquet`` for each task (all of the suite by default); returns ``folder``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    makers = {"medqa_4options": _medqa, "medmcqa": _medmcqa, "pubmedqa": _pubmedqa, "frenchmedmcqa": _french}
    for task in tasks or list(SUITE):
        spec = SUITE[task]
        make = makers.get(task) or _mmlu(spec.hub_config)
        (folder / task).mkdir(parents=True, exist_ok=True)
        questions = _FRENCH if task == "frenchmedmcqa" else _QUESTIONS
        if spec.num_fewshot:  # the shots come from train: the first ones; the rest is scored
            shots, scored = questions[: spec.num_fewshot], questions[spec.num_fewshot :]
            pq.write_table(
                pa.Table.from_pylist([make(i, *q) for i, q in enumerate(shots)]), folder / task / "train.parquet"
            )
        else:
            scored = questions[:4]
        rows = [make(i, *q) for i, q in enumerate(scored)]
        pq.write_table(pa.Table.from_pylist(rows), folder / task / f"{spec.split}.parquet")
    return folder
