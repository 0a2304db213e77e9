"""Built-in tasks: deterministic, answer placed exactly once, dev/test disjoint, exact-match scoring."""

import hashlib
import re

import pytest

from lazyllm.eval import tasks as T
from lazyllm.eval.metrics import exact_match, normalize_answer

CASES = [
    (task, length, seed)
    for task in T.TASKS
    for length in (256, 1024, 4096)
    for seed in (0, 7, T.TEST_SEED_OFFSET)
]


# sha256 of the prompt of each task at 2048 tokens, seed 3, from the generator the committed results
# were made with (lazyllm/eval/tasks.py before it became a package): the text must not change.
PROMPT_SHA256 = {
    "passkey": "e207352118c4170c",
    "kv": "d45297ea75423b0f",
    "mdqa": "c6f4b00c58a07259",
    "multikey": "adcc6628ab049f88",
    "notes": "cf4fd03c3330dc0a",
}


@pytest.mark.parametrize("task", list(PROMPT_SHA256))
def test_prompts_are_the_ones_the_results_were_made_with(task):
    prompt = T.make_example(task, 2048, 3).prompt
    assert hashlib.sha256(prompt.encode()).hexdigest()[:16] == PROMPT_SHA256[task]


def test_each_task_is_a_module_of_its_own():
    assert list(T.TASKS) == list(PROMPT_SHA256)
    for name, make in T.TASKS.items():
        assert make.__module__ == f"lazyllm.eval.tasks.{name}"
        assert isinstance(make(256, 0), T.TaskItem)


@pytest.mark.parametrize("task,length,seed", CASES)
def test_example_is_deterministic(task, length, seed):
    a, b = T.make_example(task, length, seed), T.make_example(task, length, seed)
    assert a == b
    assert a.to_dict() == b.to_dict()


@pytest.mark.parametrize("task,length,seed", CASES)
def test_answer_present_exactly_once_at_its_spans(task, length, seed):
    e = T.make_example(task, length, seed)
    parts = e.answer.split() if e.answer_kind == "numbers" else [e.answer]
    assert len(parts) == len(e.answer_spans)
    for (start, end), part in zip(e.answer_spans, parts, strict=True):
        assert e.prompt[start:end] == part
        assert e.prompt.count(part) == 1
    assert e.answer_span == e.answer_spans[0]
    assert 0.0 <= e.depth <= 1.0


@pytest.mark.parametrize("task", list(T.TASKS))
def test_question_ends_the_prompt_and_the_gold_scores_one(task):
    e = T.make_example(task, 1024, 3)
    assert e.question in e.prompt[-300:]  # the last token belongs to the question (LazyLLM §3.2)
    assert e.score(e.answer) == 1.0
    assert e.messages == [{"role": "user", "content": e.prompt}]


def test_seeds_give_different_examples():
    for task in T.TASKS:
        answers = {T.make_example(task, 1024, s).answer for s in range(12)}
        assert len(answers) >= 10, task


@pytest.mark.parametrize("task", list(T.TASKS))
def test_length_grows_with_the_target(task):
    sizes = [len(T.make_example(task, n, 1).prompt) for n in (1024, 2048, 4096)]
    for n, size in zip((1024, 2048, 4096), sizes, strict=True):
        assert 0.85 < size / (n * T.CHARS_PER_TOKEN[task]) < 1.1, (task, n, size)


def test_dev_and_test_seeds_are_disjoint():
    dev, test = T.split_seeds("dev", 500), T.split_seeds("test", 500)
    assert not set(dev) & set(test)
    assert {T.seed_split(s) for s in dev} == {"dev"} and {T.seed_split(s) for s in test} == {"test"}
    examples = T.make_examples("passkey", 1024, 3, "test")
    assert [e.split for e in examples] == ["test"] * 3 and examples[0].seed == T.TEST_SEED_OFFSET


def test_split_seeds_stay_inside_their_split():
    """Dev seeds never run into the test split; a negative start or count is refused."""
    assert T.split_seeds("dev", 5, T.TEST_SEED_OFFSET - 5)[-1] == T.TEST_SEED_OFFSET - 1
    assert T.split_seeds("test", 0) == []
    for split, n, start in [("dev", 10, T.TEST_SEED_OFFSET - 5), ("dev", 1, -1), ("test", -1, 0),
                            ("dev", T.TEST_SEED_OFFSET + 1, 0)]:  # fmt: skip
        with pytest.raises(ValueError, match="n: seeds"):
            T.split_seeds(split, n, start)


def test_bad_inputs_raise_value_error_naming_the_field():
    with pytest.raises(ValueError, match="task"):
        T.make_example("nope", 1024, 0)
    with pytest.raises(ValueError, match="length"):
        T.make_example("passkey", 10, 0)
    with pytest.raises(ValueError, match="split"):
        T.split_seeds("train", 3)
    assert T.parse_length("2k") == 2048 and T.parse_length("1500") == 1500
    with pytest.raises(ValueError, match="length"):
        T.parse_length("two")


def test_needles_are_placed_at_several_depths():
    depths = [T.make_example("passkey", 2048, s).depth for s in range(20)]
    assert min(depths) < 0.3 and max(depths) > 0.7


def test_spans_point_into_the_right_document():
    e = next(x for x in T.make_examples("mdqa", 2048, 10) if x.answer_kind == "text")
    town = re.search(r"town of (\w+)\?", e.question).group(1)
    doc_start = e.prompt.rfind("Document", 0, e.answer_span[0])
    assert e.prompt[doc_start:].split(":", 1)[1].strip().startswith(town)


@pytest.mark.parametrize(
    "pred,gold,kind,expected",
    [
        ("The pass key is 63591.", "63591", "number", 1.0),
        ("63591", "63591", "number", 1.0),
        ("The pass key is 6359.", "63591", "number", 0.0),
        ("It is 12345, not 63591.", "63591", "number", 0.0),  # the first number counts
        ("", "63591", "number", 0.0),
        ("The keys are 11111 and 22222.", "11111 22222", "numbers", 1.0),
        ("The keys are 22222 and 11111.", "11111 22222", "numbers", 1.0),  # any order
        ("The keys are 22222 and 22222.", "11111 22222", "numbers", 0.0),
        ("The key is 11111.", "11111 22222", "numbers", 0.0),
        ("Ada Brenner", "Ada Brenner", "text", 1.0),
        ("The town was founded by Ada Brenner.", "Ada Brenner", "text", 1.0),
        ("ada  brenner!", "Ada Brenner", "text", 1.0),
        ("Ada Brennerson", "Ada Brenner", "text", 0.0),  # whole words only
        ("Bruno Brenner", "Ada Brenner", "text", 0.0),
        ("I think\nAda Brenner", "Ada Brenner", "text", 0.0),  # first line only
    ],
)
def test_exact_match(pred, gold, kind, expected):
    assert exact_match(pred, gold, kind) == expected


def test_normalize_answer():
    assert normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert normalize_answer("an apple a day") == "apple day"
    with pytest.raises(ValueError, match="kind"):
        exact_match("x", "x", "fuzzy")


def test_notes_hide_one_fact_among_varied_notes_and_ask_only_at_the_end():
    e = T.make_example("notes", 2048, 5)
    thing = re.search(r"of the ([a-z ]+)\?", e.question).group(1)
    assert e.prompt.count(e.question) == 1 and e.prompt.endswith(e.question + " Answer with the number only.")
    assert e.prompt.count(thing) == 2  # in the fact and in the question only
    fact = e.prompt[e.prompt.rfind("\n", 0, e.answer_span[0]) + 1 : e.answer_span[1] + 1]
    assert fact == f"The {e.question[12:-1]} is {e.answer}."  # "The locker code of the boathouse is 43125."
    sentences = re.findall(r"[A-Z][^.:?]*\.", e.prompt)
    assert len(set(sentences)) > 0.5 * len(sentences) > 50  # varied notes, not one repeated filler
    assert not re.search(r"\d", e.prompt.replace(e.answer, ""))  # the only digits are the answer's
    assert {T.make_example("notes", 1024, s).question for s in range(12)} != {e.question}
