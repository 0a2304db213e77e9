"""The word lists the built-in tasks draw from (names, towns, filler, notes), written for the project."""

FIRST_NAMES = (
    "Ada Bruno Clara Dmitri Elena Felix Greta Hugo Ines Jonas Karin Lukas Mara Nils Olga Pavel Rosa "
    "Stefan Tilda Ugo Vera Walter Yara Zeno Amos Beatrix Cyril Dora Emil Flora Gideon Hedda Ivo Juno"
).split()
LAST_NAMES = (
    "Brenner Castell Dorn Eckart Falk Gruber Hollis Ivers Jansen Kessler Lind Moreau Norberg Ostrom "
    "Pellan Quist Rainer Sorel Thaler Ulmer Vance Wendt Yates Zorn Abbott Bramley Corwin Draper Ellery "
    "Fenwick Garrow Hadley Ingram Jessop Kimber Larkin Mercer Nyland Oakes Prentice Radley Selwyn Tolliver "
    "Underhill Varga Whitlock Ashdown Blakely Carrow Dunwell Elstrom Farrel Gaskell Harlow Iverson Kestrel"
).split()
TOWNS = (
    "Greenfield Oakridge Milford Ashton Brookvale Clayton Fairview Glenwood Hillcrest Kingsley Lakeside "
    "Marlow Northam Pinehurst Redford Silverton Thornbury Upton Westbrook Yarmouth Aldridge Bexley Cromer "
    "Dalton Elmstead Foxley Gransden Hawkhurst Ivybridge Jarrow Kelso Lydford Moffat Newbury Oundle Penrith "
    "Quarrydale Rothbury Sedbergh Tetbury Ulverston Ventnor Wetherby Axbridge Bampton Chudleigh Dunster "
    "Evesham Frome Girvan Helmsley Ilkley Keswick Ledbury Malton Nairn Otley Pickering Ripley Settle"
).split()
DOOR_COLORS = "red blue green yellow white black orange purple silver golden".split()

FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
TOWN_LINES = (
    "The streets are narrow and paved with old stones.",
    "A weekly market fills the main square with traders.",
    "Visitors often arrive by the morning ferry.",
    "The winters there are long and the summers are short.",
    "Most houses have red roofs and small gardens.",
    "A stone bridge crosses the river near the old mill.",
    "The local school teaches children from three villages.",
    "Fishermen sell their catch at the harbor every evening.",
    "An old chapel stands on the hill above the town.",
    "The library keeps maps that are several centuries old.",
    "The town council meets on the first day of each month.",
    "Travellers praise the quiet inns and the friendly people.",
)
GEOGRAPHY = (
    "northern coast",
    "southern plain",
    "eastern hills",
    "western lakes",
    "high plateau",
    "river delta",
    "forest edge",
    "mountain pass",
)
KV_OBJECTS = (
    "apple river candle mirror garden pencil rocket violin basket ladder jacket pillow anchor button "
    "castle dragon kettle lantern saddle hammer wallet helmet compass trumpet"
).split()

# Notes: varied sentences about a few places (setting -> subjects, actions), and when they happened.
NOTE_SETTINGS = {
    "harbour": (
        (
            "The harbour master",
            "An old sailor",
            "The ferry crew",
            "Two fishermen",
            "A young deckhand",
            "The net maker",
            "A gull",
        ),
        (
            "mended the torn nets",
            "painted the hull of a rowing boat",
            "counted the crates of herring",
            "tied the ropes to the pier",
            "swept the wooden quay",
            "watched the tide come in",
            "carried barrels to the warehouse",
            "checked the lanterns on the jetty",
        ),
    ),
    "workshop": (
        (
            "The carpenter",
            "An apprentice",
            "The blacksmith",
            "The clockmaker",
            "A visiting joiner",
            "The workshop foreman",
        ),
        (
            "sanded a new oak table",
            "sharpened the chisels",
            "fixed the legs of a wobbly chair",
            "oiled the old lathe",
            "sorted the nails by size",
            "stacked planks of pine by the wall",
            "repaired a cracked wheel",
            "polished a brass hinge",
        ),
    ),
    "garden": (
        (
            "The gardener",
            "A neighbour",
            "The head gardener",
            "Two children",
            "An elderly woman",
            "The beekeeper",
        ),
        (
            "planted rows of carrots",
            "pruned the apple trees",
            "watered the tomatoes",
            "raked the fallen leaves",
            "picked a basket of beans",
            "moved the bee hives to the meadow",
            "weeded the herb beds",
            "tied the roses to the fence",
        ),
    ),
}
NOTE_TIMES = (
    "in the morning",
    "at noon",
    "before the rain",
    "on Monday",
    "late in the evening",
    "after lunch",
    "at sunrise",
    "on a windy afternoon",
    "during the market day",
    "before supper",
)
# The fact of the notes task: a 5-digit code of a named place that the notes never mention otherwise.
NOTE_THINGS = ("boathouse", "bakery", "lighthouse", "chapel", "library", "post office", "bell tower", "mill")
NOTE_CODES = ("locker code", "door code", "safe number", "alarm code")
