"""LongBench reader and the official metrics, on a tiny fixture file and hand-written cases."""

import json

import pytest

from lazyllm.eval import longbench as LB
from lazyllm.eval import metrics as M

FIXTURE = [
    {
        "input": "Which city hosts the tower?",
        "context": "Passage 1:\nThe tower stands in Paris.\nPassage 2:\nThe bridge is in Rome.",
        "answers": ["Paris"],
        "all_classes": None,
        "length": 14,
        "dataset": "hotpotqa",
        "_id": "a1",
    },
    {
        "input": "Question: What river flows through Rome?\nType:",
        "context": "Question: Who wrote Hamlet?\nType: Individual\nQuestion: How far is the moon?\nType: Distance",
        "answers": ["Other location"],
        "all_classes": ["Individual", "Distance", "Other location", "City"],
        "length": 20,
        "dataset": "trec",
        "_id": "b2",
    },
    {
        "input": "import os\n",
        "context": "def add(a, b):\n    return a + b\n",
        "answers": ["    return a - b"],
        "all_classes": None,
        "length": 8,
        "dataset": "lcc",
        "_id": "c3",
    },
]


@pytest.fixture
def data_dir(tmp_path):
    for row in FIXTURE:
        (tmp_path / f"{row['dataset']}.jsonl").write_text(json.dumps(row) + "\n\n")
    return tmp_path


def test_read_jsonl_fields(data_dir):
    [item] = LB.read_jsonl(data_dir / "hotpotqa.jsonl")
    assert item.dataset == "hotpotqa" and item.task == "hotpotqa"
    assert item.answers == ("Paris",) and item.all_classes is None and item.length == 14
    assert item.prompt.startswith("Answer the question based on the given passages.")
    assert "The tower stands in Paris." in item.prompt and item.prompt.endswith(
        "Question: Which city hosts the tower?\nAnswer:"
    )
    assert item.chat and item.max_new_tokens == 32


def test_load_dir_reads_the_papers_datasets(data_dir):
    items = LB.load_dir(data_dir)
    assert [i.dataset for i in items] == ["hotpotqa", "trec", "lcc"]  # order of PAPER_GROUPS
    trec = items[1]
    assert not trec.chat and trec.all_classes == ("Individual", "Distance", "Other location", "City")
    assert trec.prompt.endswith("Type: Distance\nQuestion: What river flows through Rome?\nType:")
    with pytest.raises(ValueError, match="musique"):
        LB.load_dir(data_dir, ["musique"])


def test_items_score_with_their_official_metric(data_dir):
    hotpot, trec, lcc = LB.load_dir(data_dir)
    assert hotpot.score("Paris") == 1.0 and hotpot.score("Rome") == 0.0
    assert hotpot.score("It is in Paris") == pytest.approx(0.4)  # P = 1/4, R = 1
    assert trec.score("Other location\nQuestion: more") == 1.0  # first line only (few-shot)
    assert trec.score("City") == 0.0
    assert lcc.score("    return a - b") == 1.0
    assert 0.5 < lcc.score("    return a + b") < 1.0


def test_bad_lines_raise_value_error_naming_the_problem(tmp_path):
    path = tmp_path / "hotpotqa.jsonl"
    path.write_text('{"input": "q", "answers": ["a"]}\n')
    with pytest.raises(ValueError, match="context"):
        LB.read_jsonl(path)
    path.write_text("not json\n")
    with pytest.raises(ValueError, match="line 1"):
        LB.read_jsonl(path)
    path.write_text(json.dumps({**FIXTURE[0], "dataset": "nosuch"}) + "\n")
    with pytest.raises(ValueError, match="nosuch"):
        LB.read_jsonl(path)


def test_qa_f1_score():
    assert M.qa_f1_score("The Eiffel Tower", "eiffel tower") == 1.0
    assert M.qa_f1_score("Paris, France", "Paris") == pytest.approx(2 / 3)
    assert M.qa_f1_score("London", "Paris") == 0.0
    assert M.qa_f1_score("", "Paris") == 0.0


def test_classification_score_follows_longbench():
    classes = ["Individual", "Distance", "Other location", "City", "Location"]
    assert M.classification_score("Individual", "Individual", all_classes=classes) == 1.0
    assert M.classification_score("Individual or Distance", "Distance", all_classes=classes) == 0.5
    assert M.classification_score("nothing", "City", all_classes=classes) == 0.0
    assert (
        M.classification_score("Other location", "Other location", all_classes=classes) == 1.0
    )  # case-sensitive
    # a match that is a strict substring of the gold class is dropped
    assert M.classification_score("City of", "City of", all_classes=["City", "City of"]) == 1.0
    # LongBench's quirk: removing while iterating skips the next match ("AB" survives)
    assert M.classification_score("ABC", "ABC", all_classes=["A", "AB", "ABC"]) == 0.5


def test_code_sim_score_first_code_line():
    assert M.code_sim_score("\n# comment\nx = 1\ny = 2", "x = 1") == 1.0
    assert M.code_sim_score("```python\nx = 1", "x = 1") == 1.0
    assert M.code_sim_score("", "x = 1") == 0.0
    assert M.fuzz_ratio("abcd", "abce") == 75


def test_count_and_retrieval_scores():
    assert M.count_score("There are 5 paragraphs", "5") == 1.0
    assert M.count_score("5 or 6", "5") == 0.5
    assert M.count_score("none", "5") == 0.0
    assert M.retrieval_score("Paragraph 12", "Paragraph 12") == 1.0
    assert M.retrieval_score("Paragraph 2 and 12", "Paragraph 12") == 0.5


def test_rouge_score():
    assert M.rouge_score("the cat sat on the mat", "the cat sat on the mat") == pytest.approx(1.0)
    assert M.rouge_score("dog", "the cat sat") == 0.0
    assert 0.0 < M.rouge_score("the cat ran", "the cat sat on the mat") < 1.0


def test_score_dataset_and_groups():
    assert M.score_dataset("hotpotqa", ["Paris", "Rome"], [["Paris"], ["Paris", "Milan"]]) == 50.0
    assert M.score_dataset("hotpotqa_e", ["Paris"], [["Paris"]]) == 100.0  # LongBench-E names
    with pytest.raises(ValueError, match="dataset"):
        M.score_example("nosuch", "x", ["x"])
    groups = LB.group_scores({"hotpotqa": 20.0, "musique": 10.0, "lcc": 50.0})
    assert groups == {"multi-doc QA": 15.0, "code": 50.0}


class _CharTokenizer:
    """One token per character: enough to test middle truncation."""

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(c) for c in text]}

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(i) for i in ids)


def test_truncate_middle_keeps_both_ends():
    tok = _CharTokenizer()
    assert LB.truncate_middle(tok, "abcdefghij", 20) == "abcdefghij"
    assert LB.truncate_middle(tok, "abcdefghij", 4) == "abij"
