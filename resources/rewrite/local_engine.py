"""The offline rewriter: pick the transcript's key sentences, then say them again in new words.

No network, no model: extractive summarisation (keyword-weighted sentence scores) followed by a rule-based
paraphrase (fillers out, contractions flipped, a synonym table, simple clause reordering, discourse openers).
Every choice among alternatives is made by a stable hash of the transcript, so the same transcript always
yields the same script, and two different videos rarely get the same templates.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from resources.errors import InputRejected
from resources.records import Script, Transcript
from resources.rewrite.originality import similarity

if TYPE_CHECKING:
    from resources.rewrite.rewriter import Rewriter

MODEL = "extractive-paraphrase-v1"
NO_SPEECH = "rewrite: the source has no speech to rewrite; pick a video with narration"
MAX_HOOK_WORDS = 12
MAX_LINE_WORDS = 18
MIN_BODY_LINES = 3
MAX_TITLE_CHARS = 90
# A candidate body line whose own 3-gram containment in the source exceeds this is used only as a last resort.
MAX_LINE_SIMILARITY = 0.5


def _wordset(text: str) -> frozenset[str]:
    """The whitespace-separated words of `text`: word lists stay readable as prose-like blocks."""
    return frozenset(text.split())


# ---- word lists -------------------------------------------------------------------------------------

STOPWORDS = _wordset("""
    a about above after again against all almost also am an and any are around as at be because been before
    being below between both but by can cannot could did do does doing done down during each either else
    enough even ever every few for from further had has have having he her here hers herself him himself his
    how however i if in into is it its itself just least less let lets like many may me might mine more most
    much must my myself never no nor not now of off on once one only or other others our ours ourselves out
    over own per quite rather same she should since so some such than that the their theirs them themselves
    then there these they this those though through thus till to too toward under until up upon us very via
    was we well were what whatever when where whether which while who whom whose why will with within without
    would yet you your yours yourself yourselves
    dont doesnt didnt cant wont isnt arent wasnt werent shouldnt wouldnt couldnt havent hasnt its thats
    theres heres whats youre were theyre im youve weve ive theyve youll well ill itll theyll lets id youd
    get gets got getting go goes going gone went make makes made making take takes took put say says said
    tell told know knew think thought want wanted need needs see saw look looks thing things stuff way ways
    lot lots something anything everything nothing someone everyone anyone people guy guys time times day
    really actually basically literally gonna wanna gotta kinda sorta yeah okay ok right um uh hey hi oh
    first second third next last finally also still back maybe probably definitely pretty super
    today tomorrow yesterday year years minute minutes second seconds hour hours week weeks
    good great bad best better little big new old real sure kind sort whole
    always never often usually sometimes already instead although inside outside please thanks another
    thoughts able done half zero one two three four five six seven eight nine ten eleven twelve twenty
    thirty forty fifty sixty hundred thousand million billion percent
    """)

# Spoken fillers dropped wherever they occur (multi-word ones are matched first).
FILLER_PHRASES: tuple[tuple[str, ...], ...] = (
    ("at", "the", "end", "of", "the", "day"),
    ("what", "you", "want", "to", "do", "is"),
    ("what", "you", "wanna", "do", "is"),
    ("or", "something", "like", "that"),
    ("and", "stuff", "like", "that"),
    ("believe", "it", "or", "not"),
    ("to", "be", "honest"),
    ("let", "me", "tell", "you"),
    ("here's", "the", "thing", "about"),
    ("here's", "the", "thing"),
    ("the", "thing", "is"),
    ("if", "you", "will"),
    ("you", "know"),
    ("i", "mean"),
    ("kind", "of"),
    ("sort", "of"),
    ("you", "guys"),
    ("hey", "guys"),
    ("i", "guess"),
    ("trust", "me"),
    ("or", "whatever"),
    ("or", "something"),
    ("and", "stuff"),
    ("no", "joke"),
    ("another", "thing"),
    ("what", "that", "means", "is"),
    ("what", "i", "mean", "is"),
    ("all", "right"),
)
FILLERS = _wordset(
    "um umm uh uhh uhm er erm ah ahh hmm mm mhm basically actually literally honestly seriously totally "
    "really just very kinda sorta yeah yep anyway anyways guys also please"
)
# Dropped only at the start of a clause ("So, ...", "Okay so ...", "Well, ..."), where they carry nothing.
CLAUSE_START_FILLERS = _wordset("so well okay ok right now oh alright")
# "like" is a verb or a comparison after these words ("I like", "looks like", "things like"); else a filler.
LIKE_KEEPERS = _wordset(
    "i you we they he she would do does did dont don't doesnt doesn't didnt didn't really "
    "looks look looked feels feel felt sounds sound seem seems something anything nothing things stuff more "
    "much exactly just lot ones taste tastes tasted smell smells act acts treat"
)

CONTRACTIONS: dict[str, str] = {
    "don't": "do not",
    "doesn't": "does not",
    "didn't": "did not",
    "can't": "cannot",
    "won't": "will not",
    "isn't": "is not",
    "aren't": "are not",
    "wasn't": "was not",
    "weren't": "were not",
    "shouldn't": "should not",
    "wouldn't": "would not",
    "couldn't": "could not",
    "haven't": "have not",
    "hasn't": "has not",
    "it's": "it is",
    "that's": "that is",
    "there's": "there is",
    "here's": "here is",
    "what's": "what is",
    "you're": "you are",
    "we're": "we are",
    "they're": "they are",
    "i'm": "I am",
    "you've": "you have",
    "we've": "we have",
    "i've": "I have",
    "they've": "they have",
    "you'll": "you will",
    "we'll": "we will",
    "i'll": "I will",
    "it'll": "it will",
    "they'll": "they will",
    "gonna": "going to",
    "wanna": "want to",
    "gotta": "have to",
    "y'all": "you all",
}
# The reverse direction, for speakers who did not contract (only forms that are safe in any context).
EXPANSIONS: dict[tuple[str, ...], str] = {
    ("do", "not"): "don't",
    ("does", "not"): "doesn't",
    ("did", "not"): "didn't",
    ("is", "not"): "isn't",
    ("are", "not"): "aren't",
    ("will", "not"): "won't",
    ("can", "not"): "can't",
    ("cannot",): "can't",
    ("it", "is"): "it's",
    ("that", "is"): "that's",
    ("you", "are"): "you're",
    ("we", "are"): "we're",
    ("they", "are"): "they're",
    ("i", "am"): "I'm",
    ("you", "will"): "you'll",
    ("i", "will"): "I'll",
}

# Multi-word rewrites, matched before single words (longest first).
PHRASES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("a", "lot", "of"): ("plenty of", "loads of"),
    ("lots", "of"): ("plenty of", "loads of"),
    ("a", "lot"): ("a ton", "loads"),
    ("a", "little", "bit", "of"): ("some", "a touch of"),
    ("a", "little", "bit"): ("slightly", "a touch"),
    ("a", "bit", "of"): ("some", "a touch of"),
    ("a", "couple", "of"): ("a few", "two or three"),
    # Single alternatives where a negation may precede ("do not need to" must not become "do not must").
    ("need", "to"): ("have to",),
    ("needs", "to"): ("has to",),
    ("have", "to"): ("need to",),
    ("has", "to"): ("needs to",),
    ("make", "sure"): ("be sure", "ensure"),
    ("instead", "of"): ("rather than", "in place of"),
    ("in", "order", "to"): ("to",),
    ("so", "that"): ("so",),
    ("as", "well"): ("too",),
    ("all", "the", "time"): ("constantly", "nonstop"),
    ("right", "now"): ("today", "at the moment"),
    ("at", "the", "same", "time"): ("simultaneously", "at once"),
    ("figure", "out"): ("work out", "find out"),
    ("find", "out"): ("discover", "learn"),
    ("come", "up", "with"): ("devise", "create"),
    ("end", "up"): ("wind up", "finish up"),
    ("get", "rid", "of"): ("ditch", "remove"),
    ("take", "care", "of"): ("handle", "deal with"),
    ("pay", "attention", "to"): ("watch", "focus on"),
    ("look", "at"): ("check", "examine"),
    ("is", "going", "to"): ("will",),
    ("are", "going", "to"): ("will",),
    ("am", "going", "to"): ("will",),
    ("helps", "you"): ("lets you", "allows you to"),
    ("help", "you"): ("let you", "allow you to"),
    ("you", "can"): ("you are able to", "it's possible to"),
    ("you", "should"): ("you ought to", "it's smart to"),
    ("try", "to"): ("attempt to", "aim to"),
    ("want", "to"): ("wish to",),
    ("a", "few"): ("a couple of", "several"),
    ("most", "people"): ("most folks", "the majority of people"),
    ("a", "big", "difference"): ("a huge difference", "a real difference"),
    ("the", "best", "way"): ("the smartest way", "the ideal way"),
    ("every", "single"): ("each and every",),
    ("and", "then"): ("and after that",),
    ("it", "works"): ("it does the job", "it delivers"),
    ("pretty", "much"): ("nearly", "almost"),
    ("i", "recommend"): ("I suggest", "I'd advise"),
    ("turns", "out"): ("proves", "ends up"),
    ("as", "soon", "as"): ("the moment", "once"),
    ("when", "it", "comes", "to"): ("as for", "regarding"),
    ("pick", "up"): ("grab", "collect"),
    ("check", "out"): ("explore", "have a look at"),
    ("keep", "in", "mind"): ("remember", "bear in mind"),
    ("keep", "going"): ("carry on",),
    ("save", "money"): ("put money aside", "keep more cash"),
    ("save", "time"): ("free up time", "win back time"),
    ("pay", "off"): ("clear", "pay down"),
    ("pay", "yourself", "first"): ("put your future self first",),
    ("give", "it", "a", "try"): ("try it", "test it out"),
    ("hard", "drive"): ("hard drive",),
    ("in", "the", "long", "run"): ("over time", "long term"),
    ("over", "time"): ("in the long run",),
    ("for", "example"): ("for instance",),
    ("for", "instance"): ("for example",),
    ("of", "course"): ("naturally", "obviously"),
    ("in", "fact"): ("indeed",),
    ("at", "least"): ("at minimum", "no less than"),
    ("a", "ton", "of"): ("plenty of", "heaps of"),
    ("tons", "of"): ("loads of", "heaps of"),
    ("way", "more"): ("far more", "much more"),
    ("way", "better"): ("far better", "much better"),
    ("a", "lot", "more"): ("far more", "much more"),
    ("the", "same"): ("the identical", "the exact same"),
    ("blocks", "out"): ("shuts out", "cuts out"),
    ("drown", "out"): ("bury", "overpower"),
    ("heavy", "lifting"): ("hard work", "grunt work"),
    ("number", "one"): ("single biggest", "top"),
    ("leave", "it", "alone"): ("let it be", "leave it be"),
    ("no", "one"): ("nobody",),
    ("by", "accident"): ("accidentally", "by mistake"),
    ("right", "off"): ("straight off",),
    ("go", "back"): ("return",),
}

SYNONYMS: dict[str, tuple[str, ...]] = {
    # adjectives
    "big": ("large", "huge"),
    "huge": ("massive", "enormous"),
    "small": ("little", "tiny"),
    "tiny": ("minuscule", "small"),
    "good": ("solid", "great"),
    "great": ("excellent", "fantastic"),
    "bad": ("poor", "terrible"),
    "terrible": ("awful", "dreadful"),
    "easy": ("simple", "effortless"),
    "simple": ("easy", "straightforward"),
    "hard": ("tough", "difficult"),
    "difficult": ("tough", "tricky"),
    "fast": ("quick", "speedy"),
    "quick": ("fast", "speedy"),
    "important": ("crucial", "essential"),
    "cheap": ("affordable", "inexpensive"),
    "expensive": ("pricey", "costly"),
    "amazing": ("incredible", "remarkable"),
    "awesome": ("fantastic", "brilliant"),
    "incredible": ("amazing", "unbelievable"),
    "perfect": ("ideal", "flawless"),
    "whole": ("entire", "full"),
    "entire": ("whole", "full"),
    "different": ("distinct", "separate"),
    "main": ("primary", "chief"),
    "crazy": ("wild", "insane"),
    "weird": ("strange", "odd"),
    "strange": ("odd", "unusual"),
    "nice": ("pleasant", "lovely"),
    "smart": ("clever", "wise"),
    "clever": ("smart", "shrewd"),
    "crispy": ("crunchy", "crisp"),
    "tasty": ("delicious", "flavorful"),
    "delicious": ("tasty", "mouthwatering"),
    "healthy": ("nutritious", "wholesome"),
    "common": ("frequent", "typical"),
    "popular": ("well-liked", "widespread"),
    "massive": ("huge", "giant"),
    "basic": ("fundamental", "simple"),
    "special": ("unique", "particular"),
    "favorite": ("go-to", "preferred"),
    "obvious": ("clear", "plain"),
    "wrong": ("incorrect", "mistaken"),
    "sure": ("certain", "confident"),
    "extra": ("additional", "more"),
    "bright": ("vivid", "brilliant"),
    "powerful": ("strong", "potent"),
    "strong": ("powerful", "sturdy"),
    "annoying": ("irritating", "frustrating"),
    "useful": ("handy", "helpful"),
    "helpful": ("useful", "handy"),
    "honest": ("frank", "candid"),
    "solid": ("sturdy", "reliable"),
    "stable": ("steady", "secure"),
    "total": ("complete", "overall"),
    "several": ("a few", "multiple"),
    # adverbs
    "quickly": ("rapidly", "fast"),
    "usually": ("typically", "normally"),
    "always": ("consistently",),
    "often": ("frequently", "regularly"),
    "sometimes": ("occasionally", "at times"),
    "probably": ("likely", "most likely"),
    "definitely": ("certainly", "absolutely"),
    "completely": ("entirely", "fully"),
    "exactly": ("precisely", "just"),
    "almost": ("nearly", "practically"),
    "immediately": ("right away", "instantly"),
    "maybe": ("perhaps", "possibly"),
    "especially": ("particularly", "above all"),
    "again": ("once more", "a second time"),
    "later": ("afterward", "down the line"),
    "then": ("after that", "next"),
    "easily": ("comfortably",),
    "super": ("extremely", "incredibly"),
    "pretty": ("fairly", "quite"),
    "everywhere": ("all over", "anywhere"),
    "every": ("each",),
    "everyone": ("everybody", "all of us"),
    "everybody": ("everyone", "all of us"),
    # connectives
    "because": ("since", "as"),
    "but": ("yet", "though"),
    "however": ("that said", "still"),
    "until": ("till", "up until"),
    "around": ("about", "roughly"),
    "when": ("whenever", "once"),
    # verbs
    "start": ("begin", "kick off"),
    "starts": ("begins", "kicks off"),
    "started": ("began", "kicked off"),
    "starting": ("beginning", "kicking off"),
    "stop": ("quit", "cease"),
    "show": ("reveal", "demonstrate"),
    "shows": ("reveals", "demonstrates"),
    "showed": ("revealed", "demonstrated"),
    "think": ("believe", "reckon"),
    "find": ("discover", "spot"),
    "found": ("discovered", "spotted"),
    "see": ("notice", "spot"),
    "buy": ("purchase", "pick up"),
    "bought": ("purchased", "picked up"),
    "put": ("place", "set"),
    "add": ("put",),  # and "to" -> "into" in substitute(): "add oil to the water" -> "put oil into the water"
    "choose": ("pick", "select"),
    "pick": ("choose", "select"),
    "remove": ("take out", "strip out"),
    "fix": ("solve", "repair"),
    "build": ("create", "construct"),
    "create": ("build", "produce"),
    "change": ("shift", "switch"),
    "improve": ("boost", "upgrade"),
    "increase": ("raise", "boost"),
    "reduce": ("cut", "lower"),
    "avoid": ("skip", "steer clear of"),
    "love": ("adore", "really enjoy"),
    "hate": ("can't stand", "dislike"),
    "seems": ("appears", "looks"),
    "learn": ("pick up", "discover"),
    "learned": ("discovered", "picked up"),
    "understand": ("grasp", "get"),
    "explain": ("break down", "walk through"),
    "works": ("does the job", "delivers"),
    "worked": ("did the job", "delivered"),
    "lasts": ("holds up", "keeps going"),
    "lasted": ("held up", "kept going"),
    "check": ("inspect", "look at"),
    "gives": ("provides", "offers"),
    "allows": ("lets", "enables"),
    "matters": ("counts",),
    "recommend": ("suggest", "advise"),
    "suggest": ("recommend", "propose"),
    "believe": ("think", "reckon"),
    "realize": ("notice", "understand"),
    "realized": ("noticed", "understood"),
    "happens": ("occurs", "takes place"),
    "happened": ("occurred", "took place"),
    "mix": ("combine", "blend"),
    "stir": ("mix",),
    "convenient": ("handy", "practical"),
    "sensitive": ("touchy", "twitchy"),
    "expected": ("anticipated", "imagined"),
    "expect": ("anticipate",),
    "boring": ("dull", "unexciting"),
    "pull": ("take",),
    "tried": ("tested",),
    "try": ("test",),
    "supports": ("handles", "works with"),
    "shine": ("excel", "stand out"),
    "punchy": ("bold", "lively"),
    "glossy": ("shiny", "silky"),
    "creamy": ("velvety", "smooth"),
    "thoughts": ("opinions", "some views"),
    "plan": ("strategy", "approach"),
    "expenses": ("costs", "bills"),
    "absorbed": ("soaked up", "taken in"),
    "splash": ("dash",),
    "everything": ("it all",),
    "hits": ("lands", "arrives"),
    "move": ("shift",),
    "changed": ("transformed", "reshaped"),
    "nobody": ("no one",),
    "consistently": ("reliably",),
    "adjust": ("tweak", "reposition"),
    "under": ("below",),
    "dollars": ("bucks",),
    "nearly": ("almost",),
    "downsides": ("drawbacks", "weak spots"),
    "downside": ("drawback", "weak spot"),
    "hum": ("drone", "rumble"),
    "vocals": ("voices", "singing"),
    "cut": ("slice", "trim"),
    "charge": ("recharge",),
    "pay": ("shell out",),
    "earn": ("make", "bring in"),
    # nouns
    "money": ("cash", "funds"),
    "problem": ("issue", "snag"),
    "problems": ("issues", "snags"),
    "issue": ("problem", "snag"),
    "issues": ("problems", "snags"),
    "mistake": ("error", "slip-up"),
    "mistakes": ("errors", "slip-ups"),
    "trick": ("hack", "move"),
    "tricks": ("hacks", "moves"),
    "method": ("approach", "technique"),
    "idea": ("concept", "plan"),
    "result": ("outcome", "payoff"),
    "results": ("outcomes", "payoffs"),
    "people": ("folks",),
    "friend": ("buddy", "pal"),
    "friends": ("buddies", "pals"),
    "price": ("cost", "price tag"),
    "option": ("choice", "alternative"),
    "options": ("choices", "alternatives"),
    "choice": ("option", "pick"),
    "feature": ("function", "capability"),
    "features": ("functions", "capabilities"),
    "secret": ("key", "hidden trick"),
    "step": ("stage", "move"),
    "steps": ("stages", "moves"),
    "goal": ("aim", "target"),
    "benefit": ("perk", "upside"),
    "advantage": ("edge", "upside"),
    "phone": ("handset", "smartphone"),
    "kids": ("children", "little ones"),
    "amount": ("quantity", "portion"),
    "chance": ("opportunity", "shot"),
    "reason": ("cause", "motive"),
}

# Discourse openers by position in the body; one is chosen per line by hash, never the same one twice.
FIRST_OPENERS = ("First,", "Step one:", "Start here:", "Here's the deal:")
MIDDLE_OPENERS = ("Next,", "Here's the key:", "Plus,", "On top of that,", "Then,", "Also,")
LAST_OPENERS = ("And finally,", "Finally,", "Last but not least,", "One last thing:")
# Leading words that an opener replaces.
LEADING_CONNECTIVES = _wordset("and but so also then plus now first second third next finally lastly yet though")

HOOKS = (
    "Most people get {k} completely wrong.",
    "Nobody tells you this about {k}.",
    "This {k} trick changes everything.",
    "Here's what nobody tells you about {k}.",
    "Stop scrolling if you care about {k}.",
    "The {k} mistake almost everyone makes.",
    "I wish I knew this about {k} sooner.",
)
TITLES = (
    "The {K} Trick Nobody Talks About",
    "Stop Getting {K} Wrong",
    "{K}: What Most People Miss",
    "The Truth About {K} in 30 Seconds",
    "{K} Made Simple",
    "Everything Wrong With Your {K}",
)
CALLS_TO_ACTION = (
    "Follow for more {t} tips.",
    "Follow for more {t} tips like this.",
    "Save this and follow for more {t} tips.",
)
DESCRIPTION_OPENERS = (
    "A quick {t} breakdown: {k1} and {k2}, minus the fluff.",
    "Everything you need to know about {k1} in under a minute.",
    "The short version of what matters with {k1} and {k2}.",
)
DESCRIPTION_CLOSERS = (
    "Save it for later and share it with someone who needs it.",
    "Watch to the end for the part about {k2}.",
    "Try it and tell us in the comments how it went.",
)
# Filler lines used only when the transcript has too few sentences for a three-line body.
PADDING_LINES = (
    "It takes almost no extra effort.",
    "Most people skip this, and it shows.",
    "Try it once and you will notice the difference.",
    "Small change, big payoff.",
    "Save this so you have it next time.",
)

# A few domains recognised by vocabulary, so hashtags and the call to action name the niche ("cooking"),
# not just the most frequent noun.
DOMAINS: dict[str, frozenset[str]] = {
    "cooking": _wordset(
        "pasta cook cooking kitchen recipe salt garlic oven pan sauce boil boiling chef bake baking flavor "
        "fry frying egg eggs onion onions butter dinner meal food water oil pepper steak chicken rice "
        "dough bread sugar flour heat simmer"
    ),
    "money": _wordset(
        "money save saving savings budget invest investing investment bank account debt credit card "
        "interest stock stocks fund funds income salary paycheck retirement spending dollars rent loan "
        "emergency expenses cash"
    ),
    "tech": _wordset(
        "phone battery camera screen app apps laptop charger charging wireless bluetooth gadget device "
        "headphones earbuds usb speaker display processor specs software update sound noise "
        "cancelling"
    ),
    "fitness": _wordset(
        "workout gym muscle muscles protein reps cardio exercise stretch stretching squat squats "
        "weights training fitness"
    ),
    "productivity": _wordset(
        "focus habit habits morning routine sleep productive productivity task tasks calendar distraction"
    ),
    "travel": _wordset("flight flights hotel travel airport trip luggage passport booking"),
}

# Words that start a new clause in speech ("...enough you want it..."): "like" before them is a filler.
_SUBJECTS = _wordset("i you we they he she it this that there")
# Spelled-out numbers said as digits (the narration's subtitles read better, the TTS says them the same).
# Not "one" ("the one that") nor "hundred" ("a hundred").
NUMBERS = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "ten": "10", "eleven": "11", "twelve": "12", "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50",
    "sixty": "60", "ninety": "90",
}  # fmt: skip

# ---- tokens -------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\$?\d+(?:[.,:]\d+)*%?|[^\W\d_]+(?:['\-][^\W\d_]+)*|[^\w\s]")
_NON_SPEECH = re.compile(r"\[[^\]]*\]|\([^)]*\)|[♪♫]")
_TERMINAL = frozenset(".!?")
_CONJUNCTIONS = _wordset("and but or so")
_PUNCT = frozenset('.,;:!?—–-…"')


def _is_word(token: str) -> bool:
    return token[:1].isalnum() or token[:1] == "$"


def tokenize(text: str) -> list[str]:
    """Words (contractions and hyphenated words kept whole) and punctuation marks."""
    return _TOKEN.findall(text.replace("’", "'").replace("‘", "'"))


def render(tokens: list[str]) -> str:
    """Join tokens into text: no space before punctuation, a capital at the start, 'I' capitalised."""
    text = " ".join(tokens)
    text = re.sub(r"\s+([,.;:!?…])", r"\1", text)
    text = re.sub(r"\bi\b", "I", text)
    text = re.sub(r"\bi'", "I'", text)
    return text[:1].upper() + text[1:]


def _word_count(text: str) -> int:
    return sum(1 for t in tokenize(text) if _is_word(t))


def _stable_index(n: int, *keys: str) -> int:
    """An index in range(n) that depends only on `keys` (Python's hash() is salted per process)."""
    digest = hashlib.sha256("\x1f".join(keys).encode()).digest()
    return int.from_bytes(digest[:8], "big") % n


# ---- sentences ----------------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+")
# Whisper sometimes returns a minute of speech without a full stop; such runs are cut before these words.
_BREAK_BEFORE = _wordset("and so but because then now which if when plus also or once after before")
_RUN_ON_WORDS = 30
_PRONOUN_SUBJECTS = _wordset("i you we they he she")
# Words after which a pronoun continues the clause ("that you", "if it", "when I").
_NO_BREAK_AFTER = _wordset(
    "that if when because so and but or as than once while before after until what how why where which "
    "who make makes made let lets give gives tell tells told show shows help helps want wanted is are was "
    "were be to for of with about on in at from like"
)


def speech_text(text: str) -> str:
    """The transcript text without non-speech annotations such as "[Music]" or "♪"."""
    return re.sub(r"\s+", " ", _NON_SPEECH.sub(" ", text)).strip()


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`; unpunctuated run-ons are cut into chunks of 8-20 words at clause boundaries."""
    sentences: list[str] = []
    for part in _SENTENCE_END.split(speech_text(text)):
        words = part.split()
        if not words:
            continue
        if len(words) <= _RUN_ON_WORDS:
            sentences.append(part.strip())
            continue
        chunk: list[str] = []
        for word in words:
            bare = word.lower().strip(",;:")
            said = sum(1 for w in chunk if w.lower().strip(",;:") not in FILLERS)
            strong = bare in _BREAK_BEFORE or (chunk and chunk[-1][-1:] in ",;:")
            # A subject pronoun often opens a new clause in speech ("...enough you want it to...").
            weak = bare in _PRONOUN_SUBJECTS and chunk and chunk[-1].lower() not in _NO_BREAK_AFTER
            if chunk and ((said >= 8 and strong) or (said >= 10 and weak) or said >= 20):
                sentences.append(" ".join(chunk))
                chunk = []
            chunk.append(word)
        if chunk:
            if len(chunk) < 4 and sentences:
                sentences[-1] += " " + " ".join(chunk)
            else:
                sentences.append(" ".join(chunk))
    return sentences


# ---- keywords -----------------------------------------------------------------------------------------


def _content_words(tokens: list[str]) -> list[str]:
    out = []
    for token in tokens:
        word = token.lower().replace("'", "")
        if word.isalpha() and len(word) >= 3 and word not in STOPWORDS and word not in FILLERS:
            out.append(word)
    return out


def _lemma_map(counts: Counter[str]) -> dict[str, str]:
    """Fold plurals onto a singular that also occurs ("batteries" -> "battery", "tips" -> "tip")."""
    lemma = {}
    for word in counts:
        if word.endswith("ies") and word[:-3] + "y" in counts:
            lemma[word] = word[:-3] + "y"
        elif word.endswith("es") and word[:-2] in counts:
            lemma[word] = word[:-2]
        elif word.endswith("s") and not word.endswith("ss") and word[:-1] in counts:
            lemma[word] = word[:-1]
        else:
            lemma[word] = word
    return lemma


@dataclass(frozen=True)
class Keywords:
    """Term frequencies of content words, the key phrase and the niche of a transcript."""

    tf: Counter[str]
    lemma: dict[str, str]
    phrase: str
    topic: str

    def top(self, n: int) -> list[str]:
        return [word for word, _ in self.tf.most_common(n)]

    def weight(self, word: str) -> float:
        """Term frequency relative to the most frequent content word, 0..1."""
        key = self.lemma.get(word, word)
        peak = max(self.tf.values(), default=1)
        return self.tf.get(key, 0) / peak


def extract_keywords(sentences: list[list[str]], extra: str = "") -> Keywords:
    """TF over content words; the key phrase is the strongest pair of adjacent content words, if any.

    Ties go to niche vocabulary (DOMAINS), then to the word said first: speakers name their subject early.
    """
    raw: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    for tokens in sentences:
        for word in _content_words(tokens):
            raw[word] += 1
            first_seen.setdefault(word, len(first_seen))
    lemma = _lemma_map(raw)
    tf: Counter[str] = Counter()
    for word, count in raw.items():
        tf[lemma[word]] += count
    # Words of the source title count once more: the uploader chose them to say what the video is about.
    for word in _content_words(tokenize(extra)):
        if lemma.get(word, word) in tf:
            tf[lemma.get(word, word)] += 1
    niche = frozenset().union(*DOMAINS.values())
    order = sorted(tf, key=lambda w: (-tf[w], w not in niche, first_seen.get(w, 0), w))
    tf = Counter({word: tf[word] for word in order})

    pairs: Counter[tuple[str, str]] = Counter()
    for tokens in sentences:
        lowered = [t.lower().replace("'", "") for t in tokens]
        for a, b in itertools.pairwise(lowered):
            if a != b and _content_words([a, b]) == [a, b]:
                pairs[(a, b)] += 1
    top = set(order[:5])

    def strength(candidate: tuple[str, str]) -> tuple[int, int, str]:
        a, b = candidate
        return (pairs[candidate], tf[lemma[a]] + tf[lemma[b]], f"{a} {b}")

    # A pair said twice, or a pair of two top keywords ("wireless earbuds"), names the subject better.
    strong = [p for p in pairs if pairs[p] >= 2 or all(lemma[w] in top and tf[lemma[w]] >= 2 for w in p)]
    phrase = order[0] if order else ""
    if strong:
        a, b = max(strong, key=strength)
        phrase = f"{a} {b}"

    scores = {name: sum(tf[w] for w in vocab if w in tf) for name, vocab in DOMAINS.items()}
    best = max(sorted(scores), key=lambda name: scores[name])
    topic = best if scores[best] >= 2 else (order[0] if order else "life")
    # Speech made only of small words ("I like it.") still gets a script, about "this tip".
    return Keywords(tf=tf, lemma=lemma, phrase=phrase or "this tip", topic=topic)


def rank_sentences(sentences: list[list[str]], keywords: Keywords) -> list[int]:
    """Indices of the informative sentences, most informative first.

    Score: summed keyword weight of the sentence's distinct content words over the square root of its
    length (informative AND short), plus a bonus for the opening sentence (it usually states the point) and a
    smaller one for the last (it usually states the payoff). Sentences with fewer than four words or no
    content word are skipped; so are near-duplicates of a sentence already chosen.
    """
    scored: list[tuple[float, int]] = []
    for index, tokens in enumerate(sentences):
        words = [t for t in tokens if _is_word(t)]
        content = set(_content_words(tokens))
        if len(words) < 4 or not content:
            continue
        score = sum(keywords.weight(w) for w in content) / len(words) ** 0.5
        scored.append((score, index))
    if not scored:
        return []
    peak = max(score for score, _ in scored)
    last = len(sentences) - 1
    ranked = sorted(
        ((score + (0.25 * peak if i == 0 else 0.1 * peak if i == last else 0.0), i) for score, i in scored),
        key=lambda item: (-item[0], item[1]),
    )
    chosen: list[int] = []
    seen: list[set[str]] = []
    for _, index in ranked:
        content = set(_content_words(sentences[index]))
        if any(len(content & other) >= 0.8 * min(len(content), len(other)) for other in seen):
            continue
        chosen.append(index)
        seen.append(content)
    return chosen


# ---- paraphrase ---------------------------------------------------------------------------------------


def _match(lowered: list[str], start: int, phrase: tuple[str, ...]) -> bool:
    return tuple(lowered[start : start + len(phrase)]) == phrase


def drop_fillers(tokens: list[str]) -> list[str]:
    """Remove spoken fillers; "so", "well", "okay"... only where they open a clause."""
    lowered = [t.lower() for t in tokens]
    out: list[str] = []
    clause_start = True
    i = 0
    while i < len(tokens):
        phrase = next((p for p in FILLER_PHRASES if _match(lowered, i, p)), None)
        if phrase:
            i += len(phrase)
            continue
        word = lowered[i]
        prev = out[-1].lower() if out else ""
        nxt = lowered[i + 1] if i + 1 < len(tokens) else ""
        # "like" before a comma or after a non-keeper is a filler; "..., like restaurant pasta" compares.
        filler_like = word == "like" and (
            nxt == "," or (clause_start and nxt in _SUBJECTS) or (not clause_start and prev not in LIKE_KEEPERS)
        )
        if word in FILLERS or filler_like or (clause_start and word in CLAUSE_START_FILLERS):
            i += 1
            # An inline filler between commas takes both ("people, like, don't" -> "people don't").
            inline = lowered[i : i + 1] == [","] and lowered[i + 1 : i + 2] != [] and lowered[i + 1] not in _SUBJECTS
            if word in FILLERS | {"like"} and out and out[-1] == "," and inline:
                out.pop()
                i += 1
                clause_start = False
            continue
        if _is_word(tokens[i]):
            out.append(tokens[i])
            clause_start = False
        else:
            # No comma left hanging after a conjunction ("and, um, I" -> "and I").
            if out and out[-1] not in _PUNCT and not (tokens[i] == "," and out[-1].lower() in _CONJUNCTIONS):
                out.append(tokens[i])
            elif out and tokens[i] in _TERMINAL:
                # Punctuation orphaned by a removed filler ("salt, like." -> "salt.").
                out[-1] = tokens[i]
            clause_start = True
        i += 1
    return out


def flip_contractions(tokens: list[str]) -> list[str]:
    """Expand contractions ("don't" -> "do not") and contract expansions ("it is" -> "it's")."""
    lowered = [t.lower() for t in tokens]
    out: list[str] = []
    i = 0
    while i < len(tokens):
        word = lowered[i]
        nxt = lowered[i + 1] if i + 1 < len(tokens) else ""
        if word in CONTRACTIONS:
            expanded = CONTRACTIONS[word]
            # "it's been" is "it has been", not "it is been".
            if word.endswith("'s") and nxt in ("been", "got"):
                expanded = word[:-2] + " has"
            out.extend(expanded.split())
            i += 1
            continue
        phrase = next((p for p in EXPANSIONS if _match(lowered, i, p)), None)
        if phrase:
            out.append(EXPANSIONS[phrase])
            i += len(phrase)
            continue
        out.append(tokens[i])
        i += 1
    return out


def reorder_clauses(tokens: list[str], max_words: int = MAX_LINE_WORDS) -> list[str]:
    """Swap two clauses where it is safe: "X because Y." -> "Because Y, X." and "If Y, X." -> "X if Y.".

    Only when the sentence fits `max_words` words: cutting a reordered sentence would keep the
    subordinate clause and drop the point.
    """
    # Margin of 3: substitutions may lengthen the sentence a little before it is condensed.
    if sum(1 for t in tokens if _is_word(t)) > max_words - 3:
        return tokens
    end = tokens[-1:] if tokens and tokens[-1] in _TERMINAL else []
    body = tokens[: len(tokens) - len(end)]
    lowered = [t.lower() for t in body]
    commas = [i for i, t in enumerate(body) if t == ","]
    conditional = lowered[:1] in (["if"], ["when"], ["once"], ["whenever"])
    if conditional and len(commas) == 1 and lowered[1:4] != ["it", "comes", "to"]:
        c = commas[0]
        if c >= 3 and len(body) - c - 1 >= 3:
            return [*body[c + 1 :], lowered[0], *body[1:c], *(end or ["."])]
    if "because" in lowered and not commas:
        k = lowered.index("because")
        if k >= 3 and len(body) - k - 1 >= 3:
            return ["because", *body[k + 1 :], ",", *body[:k], *(end or ["."])]
    return tokens


def substitute(tokens: list[str], seed: str) -> list[str]:
    """Replace phrases and words from the tables; the alternative is picked by hash of (seed, word)."""
    lowered = [t.lower() for t in tokens]
    out: list[str] = []
    i = 0
    while i < len(tokens):
        phrase = next((p for p in _PHRASES_LONGEST_FIRST if _match(lowered, i, p)), None)
        if phrase:
            options = PHRASES[phrase]
            out.extend(options[_stable_index(len(options), seed, *phrase)].split())
            i += len(phrase)
            continue
        word = lowered[i]
        nxt = lowered[i + 1] if i + 1 < len(tokens) else ""
        if word in NUMBERS and _is_word(nxt) and (not out or out[-1].lower() != "a"):
            if nxt == "percent":
                out.append(NUMBERS[word] + "%")
                i += 2
                continue
            out.append(NUMBERS[word])
        elif word in SYNONYMS:
            options = SYNONYMS[word]
            out.extend(options[_stable_index(len(options), seed, word)].split())
            if word == "add" and "to" in lowered[i + 1 : i + 5]:
                to = lowered.index("to", i + 1)
                out.extend(tokens[i + 1 : to])
                out.append("into")
                i = to
        else:
            out.append(tokens[i])
        i += 1
    return out


_PHRASES_LONGEST_FIRST = sorted(PHRASES, key=len, reverse=True)


def fix_articles(tokens: list[str]) -> list[str]:
    """Make "a"/"an" agree with the (possibly replaced) next word."""
    out = list(tokens)
    for i in range(len(out) - 1):
        if out[i].lower() in ("a", "an") and _is_word(out[i + 1]):
            nxt = out[i + 1].lower()
            vowel = nxt[:1] in "aeio" or (nxt[:1] == "u" and not nxt.startswith(("uni", "use", "usu")))
            article = "an" if vowel or nxt.startswith(("hour", "honest")) else "a"
            out[i] = article.capitalize() if out[i][:1].isupper() else article
    return out


def condense(tokens: list[str], max_words: int) -> list[str]:
    """Cut a line to `max_words` words, preferring a clause boundary, and never ending on a small word."""
    words = [i for i, t in enumerate(tokens) if _is_word(t)]
    if len(words) <= max_words:
        return tokens
    limit = words[max_words - 1] + 1  # token index just past the last word that fits
    # A clause boundary is preferred only if the cut keeps at least 60% of what fits.
    floor = words[max(1, (max_words * 3) // 5) - 1]
    cut = limit
    for i in range(limit, floor, -1):
        if tokens[i] in ",:" or tokens[i].lower() in _BREAK_BEFORE:
            cut = i
            break
    kept = tokens[:cut]
    while len(kept) > 1 and (not _is_word(kept[-1]) or kept[-1].lower() in _DANGLING):
        kept.pop()
    return [*kept, "."]


# Words a cut line must not end on ("Salt the water and the.").
_DANGLING = _wordset("""
    a an the and or but so because since as if when whenever while once of to in on at for with from by into
    onto about than then your my our their his her its is are was were be been will would can could should
    do does did not very more most no every each some any that which who whose what where how
    i you we they he she
    """)


def clean_punctuation(tokens: list[str]) -> list[str]:
    """Keep only what a narrator speaks: words and , . : ! ? (dashes and semicolons become commas)."""
    out: list[str] = []
    for token in tokens:
        if _is_word(token):
            out.append(token)
        elif token == "&":
            out.append("and")
        elif token in "—–-…;,":
            if out and out[-1] not in _PUNCT:
                out.append(",")
        elif token in ".!?:" and out:
            if out[-1] in _PUNCT:
                out[-1] = token
            else:
                out.append(token)
    return out


def _normalise_start(tokens: list[str], names: frozenset[str]) -> list[str]:
    """Lower-case a sentence's first word unless it is a name, so it reads right after an opener."""
    first = tokens[0] if tokens else ""
    if first[:1].isupper() and first != "I" and not first.startswith("I'") and first not in names:
        return [first.lower(), *tokens[1:]]
    return tokens


def paraphrase(sentence: list[str], seed: str, max_words: int, names: frozenset[str] = frozenset()) -> list[str]:
    """Rewrite one tokenized sentence in new words; returns tokens (no opener), at most `max_words` words."""
    tokens = _normalise_start(clean_punctuation(sentence), names)
    tokens = drop_fillers(tokens)
    tokens = flip_contractions(tokens)
    tokens = reorder_clauses(tokens, max_words)
    tokens = substitute(tokens, seed)
    tokens = fix_articles(tokens)
    # The opener takes the place of a leading "and", "so", "then"...
    while tokens and (tokens[0].lower() in LEADING_CONNECTIVES or not _is_word(tokens[0])):
        tokens = tokens[1:]
    tokens = condense(tokens, max(1, max_words))
    if tokens and tokens[-1] not in _TERMINAL:
        tokens = [*(tokens[:-1] if tokens[-1] in _PUNCT else tokens), "."]
    return tokens


def proper_names(sentences: list[list[str]]) -> frozenset[str]:
    """Words written capitalised in mid-sentence somewhere (names, brands): never lower-cased."""
    return frozenset(t for s in sentences for t in s[1:] if t[:1].isupper() and t != "I" and _is_word(t))


# ---- the engine ---------------------------------------------------------------------------------------


def _title_case(phrase: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in phrase.split())


def _tag(text: str) -> str:
    """A hashtag in [a-z0-9]: accents folded ("pâtes" -> "pates"), everything else dropped."""
    folded = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded)


class LocalEngine:
    """Deterministic extractive paraphrase: same transcript, same script; no network, no model."""

    name = "local"

    def __init__(self, settings: Rewriter) -> None:
        self.max_body_lines = settings.max_body_lines
        self.max_words = settings.max_words
        self.channel_topic = settings.channel_topic.strip()

    def rewrite(self, transcript: Transcript, *, source_title: str = "", source_uploader: str = "") -> Script:
        """Title, hook, 3-6 body lines, call to action, description and hashtags for `transcript`."""
        sentences = [tokenize(s) for s in split_sentences(transcript.text)]
        sentences = [s for s in sentences if drop_fillers(s)]
        spoken = [drop_fillers(s) for s in sentences]
        if not any(_is_word(t) for s in spoken for t in s):
            raise InputRejected(NO_SPEECH)
        seed = hashlib.sha256("\x1f".join(" ".join(s) for s in sentences).encode()).hexdigest()
        keywords = extract_keywords(spoken, extra=source_title)
        topic = self.channel_topic or keywords.topic
        phrase = keywords.phrase

        hook = _pick(HOOKS, seed, "hook").format(k=phrase)
        if _word_count(hook) > MAX_HOOK_WORDS:
            hook = f"This {keywords.top(1)[0]} trick changes everything."
        call_to_action = _pick(CALLS_TO_ACTION, seed, "cta").format(t=topic)
        budget = self.max_words - _word_count(hook) - _word_count(call_to_action)
        body = self._body(sentences, spoken, keywords, seed, budget)

        title = _pick(TITLES, seed, "title").format(K=_title_case(phrase))[:MAX_TITLE_CHARS].strip()
        k2 = next((w for w in keywords.top(3) if w not in phrase.split()), topic)
        description = " ".join(
            [
                _pick(DESCRIPTION_OPENERS, seed, "description").format(t=topic, k1=phrase, k2=k2),
                _pick(DESCRIPTION_CLOSERS, seed, "closer").format(k2=k2),
            ]
        )
        return Script(
            title=title,
            hook=hook,
            body=body,
            call_to_action=call_to_action,
            description="\n\n".join(part for part in (description, _credit(source_title, source_uploader)) if part),
            hashtags=_hashtags(keywords, topic),
            provider="local",
            model=MODEL,
        )

    def _body(
        self,
        sentences: list[list[str]],
        spoken: list[list[str]],
        keywords: Keywords,
        seed: str,
        budget: int,
    ) -> list[str]:
        # Fewer, fuller lines when the word budget is tight: a line needs ~10 words to say anything.
        count = min(self.max_body_lines, max(MIN_BODY_LINES, budget // 10))
        ranked = rank_sentences(spoken, keywords)
        if not ranked:  # only very short sentences: keep the most informative one anyway
            ranked = [max(range(len(spoken)), key=lambda i: (len(_content_words(spoken[i])), -i))]
        per_line = min(MAX_LINE_WORDS, budget // count)
        names = proper_names(sentences)
        source = " ".join(" ".join(s) for s in sentences)
        # Prefer sentences that the rules really rewrote: a line that still repeats most of its source
        # phrases is skipped while better-paraphrased candidates remain.
        drafts = {i: render(paraphrase(sentences[i], seed, per_line - 2, names)) for i in ranked}
        original = [i for i in ranked if similarity(drafts[i], source) <= MAX_LINE_SIMILARITY]
        copied = [i for i in ranked if i not in original]
        chosen = sorted((original + copied)[:count])
        lines: list[list[str] | str] = [sentences[i] for i in chosen]
        start = _stable_index(len(PADDING_LINES), seed, "padding")
        while len(lines) < MIN_BODY_LINES:
            lines.append(PADDING_LINES[(start + len(lines)) % len(PADDING_LINES)])
        # Every line gets an equal share of the word budget, its opener included.
        per_line = min(MAX_LINE_WORDS, budget // len(lines))
        used: set[str] = set()
        body: list[str] = []
        for position, line in enumerate(lines):
            pool: tuple[str, ...]
            if position == 0:
                pool = FIRST_OPENERS
            elif position == len(lines) - 1:
                pool = LAST_OPENERS
            else:
                pool = MIDDLE_OPENERS
            candidates = tuple(o for o in pool if o not in used) or pool
            opener = _pick(candidates, seed, f"opener{position}")
            used.add(opener)
            room = per_line - _word_count(opener)
            if isinstance(line, str):  # our own padding line: already original, only trimmed
                tokens = condense(_normalise_start(tokenize(line), frozenset()), room)
            else:
                tokens = paraphrase(line, seed, room, names)
            body.append(render([opener, *tokens]))
        return body


def _pick(options: tuple[str, ...], seed: str, slot: str) -> str:
    return options[_stable_index(len(options), seed, slot)]


def _hashtags(keywords: Keywords, topic: str) -> list[str]:
    """3-6 tags in [a-z0-9]+: the niche, the key phrase, top keywords, then "shorts"."""
    tags: list[str] = []
    phrase = _tag(keywords.phrase) if keywords.tf else ""
    for tag in [_tag(topic), phrase, *(_tag(w) for w in keywords.top(4)), "tips", "howto"]:
        if tag and tag not in tags and tag != "shorts" and len(tags) < 5:
            tags.append(tag)
    return [*tags, "shorts"]


def _credit(source_title: str, source_uploader: str) -> str:
    """The credit line from what is known of the source; empty when nothing is (never a placeholder that
    could be published as is)."""
    who, title = source_uploader.strip(), source_title.strip()
    if who and title:
        return f'Credit: inspired by "{title}" by {who}.'
    if who or title:
        return f"Credit: inspired by {who or chr(34) + title + chr(34)}."
    return ""
