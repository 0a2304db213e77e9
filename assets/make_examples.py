"""Write the example prompts to assets/examples/*.json (run once; the files are committed).

Each example: name, task, prompt, answer (a string the correct output contains) and answer_span
(the text of the prompt that holds the evidence, used by the evidence tracker).

    python assets/make_examples.py                       # write the examples
    python assets/make_examples.py --find-diverging 40   # search harbour-notes seeds (embedded model)

The town founders (lazyllm.eval.tasks' mdqa, seed FOUNDERS_SEED) are a prompt where the baseline's
answer is wrong too and `default`'s text parts from it: the Evidence view then explains the split from
the baseline's own attention. The harbour notes are a prompt whose answer pruning too early changes on the embedded model (the
explorer's tests, screenshots and walkthrough need one): picking it selects HARBOUR_PRESET (`paper`,
which prunes after ~30% of the depth), while `default` keeps the answer. `--find-diverging N` tries
seeds 0..N-1 and prints those where the baseline and `default` answer right and HARBOUR_PRESET
answers wrong; HARBOUR_SEED is the one committed.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "examples"

FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "


def passkey() -> dict:
    key = "68143"
    needle = f"The pass key is {key}. Remember it. {key} is the pass key. "
    text = FILLER * 22 + needle + FILLER * 26
    prompt = (
        "There is an important piece of information hidden inside a lot of irrelevant text. "
        "Find it and memorize it.\n\n" + text + "\n\nWhat is the pass key? Answer with the number only."
    )
    return dict(
        name="Pass-key retrieval", task="passkey", prompt=prompt, answer=key, answer_span=f"pass key is {key}"
    )


DOCS = [
    (
        "The Orchard Line",
        "The Orchard Line is a narrow-gauge railway that runs for 31 kilometres through the apple valleys "
        "north of Vellmar. It was built by a cooperative of fruit growers who wanted a faster way to bring "
        "their harvest to the river port. Construction began in 1902 and the first train ran in the autumn "
        "of 1905, pulled by a small tank engine the growers named Pippin. Passenger service was added in 1911. "
        "Freight traffic declined after the main road was paved in the 1950s, and the line closed in 1968. "
        "A group of volunteers reopened the first nine kilometres as a heritage railway in 1994.",
    ),
    (
        "Lake Osterby",
        "Lake Osterby is a glacial lake in the uplands of the Harrow district. It is 7.4 kilometres long and "
        "reaches a depth of 62 metres near its northern shore. The lake is fed by four streams and drains "
        "through the Osterby Water into the river Lune. It is known for its population of Arctic char, "
        "which survived in the cold deep water after the last ice age. Fishing is controlled by a local "
        "trust that issues around two hundred permits each year. A sailing club has used the western "
        "shore since 1932.",
    ),
    (
        "The Brannock Observatory",
        "The Brannock Observatory stands on Cairn Hill, 540 metres above sea level. It was founded in 1879 "
        "by the astronomer Elinor Brannock, who paid for the building with the money she earned from a "
        "popular series of star atlases. Its main instrument, a 20-inch refracting telescope, was installed "
        "in 1884 and was for some years the largest in the region. Brannock used it to measure the orbits "
        "of double stars; her catalogue of 1,206 pairs was published in 1897. The observatory is now run by "
        "a university and opens to the public on clear Friday evenings.",
    ),
    (
        "The Marlow Bridge",
        "The Marlow Bridge crosses the river Kest at Kestrel Falls. It is a stone arch bridge of five spans "
        "with a total length of 148 metres. The town council commissioned it after the old wooden bridge "
        "was swept away by a flood in 1879. The engineer Thomas Adebayo-Hale designed the bridge, and the "
        "work was carried out by local masons using granite from the Sedley quarry. The Marlow Bridge was "
        "completed in 1887 and opened by the mayor with a procession of the town's brass band. It carried "
        "all road traffic until a new concrete bridge was built downstream in 1971; since then it has been "
        "open only to pedestrians and cyclists.",
    ),
    (
        "Saint Ives Market Hall",
        "The market hall of Saint Ives on the Wend is a timber-framed building raised on twelve oak posts. "
        "Traders sold grain and wool on the open ground floor, while the town court met in the room above. "
        "Tree-ring dating of the posts shows that the timber was felled in the winter of 1611. The hall "
        "was restored in 1958 and again in 2009, when rotten posts were replaced with new oak cut from the "
        "same estate. A weekly market is still held there every Thursday.",
    ),
    (
        "The Corrin Lighthouse",
        "The Corrin Lighthouse marks the reef at the mouth of Corrin Bay. The first light, a coal fire in an "
        "iron basket, was lit in 1761. The present tower, 38 metres tall and painted in red and white bands, "
        "replaced it in 1846. Its lens was made in Paris and can be seen from 22 nautical miles away. The "
        "last keepers left in 1989 when the light was automated; the keepers' cottages now house a small "
        "museum about the shipwrecks of the bay.",
    ),
]


def multidoc() -> dict:
    docs = "\n\n".join(f"Document {i + 1}: {title}\n{body}" for i, (title, body) in enumerate(DOCS))
    question = "In which year was the Marlow Bridge in Kestrel Falls completed?"
    prompt = (
        "Answer the question using only the documents below.\n\n"
        + docs
        + f"\n\nQuestion: {question}\nAnswer with the year only."
    )
    return dict(
        name="Multi-document QA",
        task="multidoc_qa",
        prompt=prompt,
        answer="1887",
        answer_span="completed in 1887",
    )


ARTICLE = """Hillbrook's rooftop gardens feed a neighbourhood

When the textile mill on Canal Street closed in 2009, its flat roofs were left to the pigeons. Today
they are the largest urban farm in the county. The Hillbrook Rooftop Cooperative grows vegetables,
herbs and soft fruit on 4,200 square metres of former factory roof, and last year it supplied more
than 11 tonnes of produce to the neighbourhood around the mill.

The cooperative began with three residents and a borrowed ladder. Maria Okafor, a retired nurse, had
noticed that the nearest supermarket was a forty-minute bus ride away and that fresh vegetables in the
corner shops were expensive. "People here were eating out of tins because they had no choice," she
says. She persuaded the owners of the empty mill to lend the roof for one summer. Volunteers carried
soil up the fire escape in buckets and planted lettuce, beans and tomatoes in old fish crates.

The first harvest was small, but it drew attention. The city council gave the group a grant to
strengthen the roof and install a goods lift, and an engineering firm donated a system that collects
rainwater from the roof and stores it in tanks in the old boiler room. The rainwater now covers
almost all of the gardens' needs; in the dry summer of 2022 the cooperative was one of the few growers
in the region that did not have to cut back. Beehives on the north roof pollinate the fruit, and the
honey is sold at the Saturday market.

Membership is open to anyone who lives within a mile of the mill. Members pay a small fee or work four
hours a month, and in return they receive a weekly box of whatever is in season. About a third of the
harvest is given away free to the food bank at St Luke's church and to the primary school, where
children learn to grow their own vegetables in a corner of the roof reserved for them. The school's
head teacher says attendance improves in the weeks when the class goes up to the garden.

Not everything has gone smoothly. Wind is a constant problem: a storm in 2016 tore away two
polytunnels and scattered seedlings across three streets. The cooperative now grows its tallest plants
behind windbreaks made of willow hurdles. Running costs are another worry. The lift and the pumps need
electricity, and the grant that paid for them has run out. The cooperative hopes to cover the cost
with solar panels on the south roof, for which it is raising money this year.

Other cities have taken notice. Delegations from four towns have visited Canal Street, and a similar
project has started on a disused car park in Brenton. Okafor is pleased, but she says the point was
never the size of the harvest. "A garden on a roof is a place where neighbours meet," she says. "We
grow vegetables, but mostly we grow a street that looks after itself."
"""


def summary() -> dict:
    prompt = "Read the article below.\n\n" + ARTICLE + "\nSummarize the article in one or two sentences."
    return dict(
        name="Summary request",
        task="summary",
        prompt=prompt,
        answer="roof",
        answer_span="largest urban farm in the county",
    )


CODE = '''"""A small inventory module for a hardware shop."""

from dataclasses import dataclass, field


@dataclass
class Item:
    sku: str
    name: str
    unit_price: float
    quantity: int = 0
    tags: list[str] = field(default_factory=list)


class Inventory:
    """Items by SKU, with simple stock movements."""

    def __init__(self):
        self.items: dict[str, Item] = {}

    def add(self, item: Item) -> None:
        if item.sku in self.items:
            raise KeyError(f"duplicate SKU {item.sku}")
        self.items[item.sku] = item

    def restock(self, sku: str, amount: int) -> None:
        if amount <= 0:
            raise ValueError("amount must be positive")
        self.items[sku].quantity += amount

    def sell(self, sku: str, amount: int) -> float:
        item = self.items[sku]
        if amount > item.quantity:
            raise ValueError(f"only {item.quantity} of {item.name} in stock")
        item.quantity -= amount
        return amount * item.unit_price

    def low_stock(self, threshold: int = 5) -> list[Item]:
        return [item for item in self.items.values() if item.quantity < threshold]

    def by_tag(self, tag: str) -> list[Item]:
        return [item for item in self.items.values() if tag in item.tags]

    def names(self) -> list[str]:
        return sorted(item.name for item in self.items.values())


def load_csv(path: str) -> Inventory:
    """Read rows of sku,name,unit_price,quantity,tags (tags separated by ;)."""
    inventory = Inventory()
    with open(path) as f:
        next(f)  # header
        for line in f:
            sku, name, price, quantity, tags = line.rstrip("\\n").split(",")
            inventory.add(Item(sku, name, float(price), int(quantity), tags.split(";") if tags else []))
    return inventory


def total_value(inventory: Inventory) -> float:
    """The value of all stock: the sum of unit price times quantity over every item."""
'''


def code() -> dict:
    prompt = (
        "Complete the body of the function `total_value` at the end of this Python module. "
        "Reply with the code of the function only.\n\n```python\n" + CODE + "```"
    )
    return dict(
        name="Code completion",
        task="code",
        prompt=prompt,
        answer="quantity",
        answer_span="unit_price: float\n    quantity: int",
    )


HARBOUR_SEED = 0
HARBOUR_PRESET = "paper"  # prunes after ~30% of the depth: before this model's last token finds the code
HARBOUR_PEOPLE = ("The harbour master", "An old sailor", "The ferry crew", "Two fishermen", "A young deckhand",
                  "The net maker", "The lighthouse keeper", "A trader from the south")  # fmt: skip
HARBOUR_DEEDS = ("mended the torn nets", "painted the hull of a rowing boat", "counted the crates of herring",
                 "tied the ropes to the pier", "swept the wooden quay", "watched the tide come in",
                 "carried barrels to the warehouse", "checked the lanterns on the jetty",
                 "sold smoked fish at the market", "repaired the slipway", "scraped barnacles off a keel",
                 "rowed out to the buoys")  # fmt: skip
HARBOUR_TIMES = ("in the morning", "at noon", "before the rain", "on Monday", "late in the evening",
                 "after the storm", "at sunrise", "on market day")  # fmt: skip


def harbour(seed: int = HARBOUR_SEED, paragraphs: int = 13) -> dict:
    """Notes about a harbour town (~950 tokens) with one 5-digit code in them, the question at the end."""
    rng = random.Random(f"harbour-notes:{seed}")
    code = str(rng.randint(10_000, 99_999))
    notes = [
        "Notes from the harbour: " + " ".join(
            f"{rng.choice(HARBOUR_PEOPLE)} {deed} {rng.choice(HARBOUR_TIMES)}." for deed in rng.sample(HARBOUR_DEEDS, 5)
        ) + "\n\n"
        for _ in range(paragraphs)
    ]  # fmt: skip
    notes.insert(rng.randint(4, paragraphs - 4), f"The locker code of the boathouse is {code}.\n\n")
    prompt = "Here are some notes about a small harbour town.\n\n" + "".join(notes)
    prompt += "What is the locker code of the boathouse? Answer with the number only."
    return dict(name="Harbour notes (the answer changes)", task="harbour_notes", prompt=prompt, answer=code,
                answer_span=f"locker code of the boathouse is {code}", preset=HARBOUR_PRESET)  # fmt: skip


FOUNDERS_SEED = 0  # mdqa at ~900 tokens: the baseline names a document, not the founder (wrong), and
# `default` diverges from it at step 5 (" Ax" -> " Al"): the Evidence view's baseline-attention case


def founders(seed: int = FOUNDERS_SEED) -> dict:
    """Multi-document QA (lazyllm.eval.tasks.mdqa, ~900 tokens) where the baseline's answer is wrong too."""
    from lazyllm.eval.tasks import make_example

    item = make_example("mdqa", 900, seed)
    a, b = item.answer_span  # the founder's name, in "Document k (Town): Town was founded by <name> in …"
    start = item.prompt.rindex("): ", 0, a) + 3
    return dict(name="Town founders (both answers wrong)", task="founders", prompt=item.prompt,
                answer=item.answer, answer_span=item.prompt[start:b])  # fmt: skip


def find_diverging(seeds: int) -> None:
    """Print the seeds where the baseline and `default` answer right and HARBOUR_PRESET answers wrong."""
    from lazyllm import LazyConfig, compare_runs, generate, load_model

    lm = load_model()
    early = LazyConfig.preset(HARBOUR_PRESET, num_layers=lm.num_layers)
    default = LazyConfig.preset("default", num_layers=lm.num_layers)
    for seed in range(seeds):
        ex = harbour(seed)
        base, run, c = compare_runs(lm, ex["prompt"], early, max_new_tokens=20)
        kept = generate(lm, ex["prompt"], default, max_new_tokens=20)
        right = [ex["answer"] in r.text for r in (base, run, kept)]
        mark = f"  <- baseline and default right, {HARBOUR_PRESET} wrong" if right == [True, False, True] else ""
        print(f"seed {seed}: {len(base.prompt_ids)} tokens, baseline {base.text!r}, {HARBOUR_PRESET} {run.text!r}, "
              f"default {kept.text!r}{mark}", flush=True)


def main() -> None:
    if sys.argv[1:2] == ["--find-diverging"]:
        return find_diverging(int(sys.argv[2]) if len(sys.argv) > 2 else 40)
    HERE.mkdir(exist_ok=True)
    for i, ex in enumerate((multidoc(), passkey(), summary(), code(), harbour(), founders()), 1):
        path = HERE / f"{i}_{ex['task']}.json"
        path.write_text(json.dumps(ex, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(path.name, len(ex["prompt"]), "chars")


if __name__ == "__main__":
    main()
