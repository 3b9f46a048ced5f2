"""Templated prompts in which length and difficulty point opposite ways, used only for training.

A model trained on prompts whose hard ones are long and whose easy ones are short learns length. These
templates teach the other two corners: short but hard asks (prove, derive, "why exactly", strict forms, one-line
design problems) and long but easy ones (a pasted notice, log, config or story with a trivial ask). The
handwritten files in data/decorrelated/ carry the same idea in freer wording; the held-out set
(data/heldout/) was written apart from both. `generate(seed)` is deterministic.
"""

from __future__ import annotations

import random

# --- short and hard -------------------------------------------------------------------------------------------

CLAIMS = [
    "there are infinitely many primes of the form 6k + 5", "the square root of 7 is irrational",
    "every planar graph is 5-colourable", "a continuous function on [a, b] attains its maximum",
    "the alternating group A5 is simple", "e is irrational", "every finite integral domain is a field",
    "the harmonic numbers are never integers after H1", "n! > 2^n for n >= 4",
    "the sum of the first n odd numbers is n^2", "a polynomial of degree n has at most n roots over a field",
    "Z[i] is a Euclidean domain", "there is no surjection from a set onto its power set",
    "every connected graph has a spanning tree", "the product of two compact spaces is compact",
    "the Fibonacci numbers satisfy gcd(F_m, F_n) = F_gcd(m,n)", "log 2 / log 3 is irrational",
    "a bipartite graph has no odd cycle", "the eigenvalues of a real symmetric matrix are real",
    "11 divides a number iff the alternating digit sum does", "pi is irrational",
]
DERIVATIONS = [
    "the Black–Scholes equation", "Bayes' theorem from the definition of conditional probability",
    "the formula for the volume of a sphere", "the Euler–Lagrange equation", "the normal equations of least squares",
    "the wave equation for a string", "Kepler's third law from Newton's gravitation", "the Schwarzschild radius",
    "the closed form of the Fibonacci numbers", "the Taylor series of ln(1 + x)", "the backpropagation update",
    "the escape velocity from Earth", "the Michaelis–Menten equation", "the ideal rocket equation",
]
WHY_EXACTLY = [
    ("math", "must a 3x3 magic square have 5 in the centre"), ("math", "is the product of two negatives positive"),
    ("math", "is the determinant of an orthogonal matrix plus or minus one"),
    ("technical_explanation", "does TCP slow start back off after a single loss"),
    ("technical_explanation", "does ice float on water"), ("technical_explanation", "do RAID 5 rebuilds fail so often"),
    ("technical_explanation", "does a moving bicycle stay upright"),
    ("technical_explanation", "do SSDs slow down when nearly full"),
    ("technical_explanation", "does a GPS receiver need relativity"),
    ("technical_explanation", "does DNS caching make outages last longer"),
    ("coding", "does my Python default argument list keep its contents between calls"),
    ("coding", "does this C code print garbage after free"), ("coding", "does Go's loop variable capture bite closures"),
    ("coding", "is 0.1 + 0.2 not equal to 0.3 in JavaScript"), ("coding", "does Java throw ConcurrentModificationException"),
]
HARD_BUILDS = [
    "a lock-free stack with ABA protection", "a B+ tree with range scans", "a skip list with concurrent inserts",
    "a Paxos acceptor", "an LR(1) parser generator", "a mark-and-sweep garbage collector",
    "a persistent vector with structural sharing", "a suffix array in O(n log n)", "a rope for a text editor",
    "a work-stealing thread pool", "a Merkle tree with inclusion proofs", "a regex engine via Thompson's NFA",
    "a Fenwick tree for 2D range sums", "an async mutex that is fair", "a rate limiter with a token bucket in Redis",
]
LANGS = ["C", "C++", "Rust", "Go", "Java", "Python", "Haskell", "TypeScript", "Zig", "OCaml"]
STRICT_FORMS = [
    "a sestina", "a villanelle", "a ghazal", "a pantoum", "a crown of sonnets", "a lipogram without 'a'",
    "a Petrarchan sonnet", "a rondeau", "a terza rima", "a double acrostic", "a palindrome poem",
    "a golden shovel", "a sonnet in strict iambic pentameter", "a haibun", "a canzone",
]
FORM_TOPICS = ["grief", "a shipwreck", "insomnia", "exile", "a dying star", "an old library", "first snow",
               "a lost language", "a war widow", "a border town", "the last wolf", "a flooded village"]
HARD_WORKS = [
    "Spinoza's Ethics", "Heidegger's Being and Time", "Rawls's original position", "Gödel's second theorem",
    "the Coase theorem and its critics", "general relativity's field equations", "Kant's categorical imperative",
    "the Bretton Woods collapse", "the Peloponnesian War's causes", "Arrow's impossibility theorem",
    "the Copenhagen interpretation", "Marx's theory of surplus value", "the Thirty Years' War",
]
SUMMARY_QUALIFIERS = ["accurately", "without distorting it", "faithfully, in five sentences", "fairly to its critics",
                      "for a graduate seminar", "with its key objections"]
HARD_CLASSIFY = [
    "Classify all groups of order {n} up to isomorphism.", "Is {lang_problem} decidable? Classify and prove.",
    "Classify the critical points of f(x, y) = x^3 - 3xy + y^3.", "Classify the conic {conic} and justify.",
    "Which complexity class does {problem} belong to? Prove it.",
]
DEBATES = [
    "Is moral realism true?", "Did the printing press cause the Reformation?", "Is GDP a good measure of welfare?",
    "Should central banks target inflation?", "Was colonialism the main cause of global inequality?",
    "Can a just war exist?", "Is personal identity an illusion?", "Did the Black Death end feudalism?",
    "Is it rational to vote?", "Are we obligated to future generations?",
]
DEBATE_TAILS = ["Argue both sides.", "Defend a verdict.", "Weigh the evidence.", "Make the strongest case.",
                "Be rigorous."]


# --- long and easy --------------------------------------------------------------------------------------------

MUNDANE = [
    "The car park will be resurfaced over the weekend.", "Please remember to bring your own mug to the meeting.",
    "The next newsletter will come out at the end of the month.", "Our opening hours stay the same over the summer.",
    "Tickets can be collected at the front desk from 9am.", "The lift on the east side is working again.",
    "We had a lovely time at the beach and the weather held up.", "My brother brought his new puppy along.",
    "Lunch was sandwiches, crisps and a big bowl of fruit.", "The train was ten minutes late but nobody minded.",
    "The kids spent the afternoon building a den in the garden.", "Parking is free after 6pm on weekdays.",
    "The library has a new shelf of local history books.", "Volunteers are needed for the litter pick on Sunday.",
    "The quiz night raised just over two hundred pounds.", "Please close the windows when you leave the room.",
    "The bakery on the corner now sells gluten-free bread.", "Our cat has taken to sleeping in the laundry basket.",
    "The package will be left with a neighbour if nobody is home.", "The hall is booked from 7 until 10.",
    "There will be tea and biscuits after the talk.", "The printer on the second floor is out of toner again.",
    "Bring a packed lunch and wear comfortable shoes.", "The water will be off for about an hour on Tuesday.",
    "Grandma made her famous apple pie for dessert.", "We walked along the river and fed the ducks.",
    "The new timetable starts on the first Monday of the month.", "Refunds take three to five working days.",
    "The garden centre has a sale on summer bulbs.", "The meeting minutes will be shared by email.",
]
CONFIG_LINES = [
    "port: 8080", "host: 0.0.0.0", "log_level: info", "workers: 4", "timeout_s: 30", "retries: 3",
    "cache_ttl: 600", "database: postgres://app@db/app", "debug: false", "region: eu-west-1", "replicas: 2",
    "max_body_kb: 512", "feature_new_ui: true", "metrics_path: /metrics", "tls: enabled", "queue: jobs",
]
LOG_LINES = [
    "INFO starting server", "INFO connected to database", "INFO loaded 42 routes", "WARN slow query took 812 ms",
    "INFO request GET /health 200", "INFO request POST /login 200", "INFO cache warmed", "INFO worker 3 ready",
    "INFO request GET /items 200", "INFO shutting down gracefully", "INFO scheduled job finished",
]
EASY_ASKS = {
    "summarization": ["Summarise this in one line:", "TL;DR please:", "Can you shorten this to a sentence?",
                      "Give me the gist of this:", "Sum this up for a quick note:"],
    "classification": ["Is this message positive, negative or neutral?", "Tag this as work or personal:",
                       "Is this a complaint or a question?", "Which category is this: news, notice or chat?",
                       "Label the tone of this as formal or informal:"],
    "creative_writing": ["Write a short, cheerful caption to go with this:", "Give me a fun title for this post:",
                         "Write a two-line thank-you note based on this:", "Suggest a catchy headline for this:"],
    "technical_explanation": ["What does 'working days' mean in this?", "In simple terms, what is a toner?",
                              "What does 'resurfaced' mean here, simply?", "Quickly, what is a timetable?"],
    "none": ["Anyway, how's your day going?", "Just wanted to share that. Any fun fact about ducks?",
             "No question really, just say something nice.", "What's a good film to watch after a day like that?"],
}
CODE_ASKS = ["Which line sets the port?", "What is the log level set to?", "How many workers does it use?",
             "Is debug switched on?", "What region is this in?"]
LOG_ASKS = ["Did the server start fine?", "Which request was slow, if any?", "Did it shut down cleanly?"]


def _paragraph(rng: random.Random, lo: int = 6, hi: int = 12) -> str:
    return " ".join(rng.sample(MUNDANE, rng.randint(lo, hi)))


def generate(seed: int = 0, per_kind: int = 60) -> list[tuple[str, str, str]]:
    """(task_type, complexity, text) triples: `per_kind` of each maker below."""
    rng = random.Random(seed)
    out: list[tuple[str, str, str]] = []

    def add(task: str, complexity: str, make) -> None:
        seen: set[str] = set()
        tries = 0
        while len(seen) < per_kind and tries < per_kind * 30:
            tries += 1
            item = make()
            task_of, text = (item if isinstance(item, tuple) else (task, item))
            if text not in seen:
                seen.add(text)
                out.append((task_of, complexity, text))

    # Short and hard.
    add("math", "complex", lambda: rng.choice(["Prove that {c}.", "Show that {c}.", "Prove: {c}.",
                                               "Why is it true that {c}? Prove it.", "Give a proof that {c}."]
                                              ).format(c=rng.choice(CLAIMS)))
    add("math", "complex", lambda: rng.choice(["Derive {d}.", "Derive {d} from first principles.",
                                               "Walk me through deriving {d}."]).format(d=rng.choice(DERIVATIONS)))

    def why_exactly() -> tuple[str, str]:
        task, fact = rng.choice(WHY_EXACTLY)
        frame = rng.choice(["Why exactly {f}?", "Why, precisely, {f}?", "But why exactly {f}? Rigorously."])
        return task, frame.format(f=fact)

    add("", "complex", why_exactly)
    add("coding", "complex", lambda: rng.choice(["Implement {b} in {l}.", "Write {b} in {l}, and prove it correct.",
                                                 "{l}: implement {b}."]).format(b=rng.choice(HARD_BUILDS),
                                                                               l=rng.choice(LANGS)))
    add("creative_writing", "complex", lambda: rng.choice(["Write {f} about {t}.", "{f} on {t}, strict form.",
                                                           "Compose {f} about {t}."]).format(
        f=rng.choice(STRICT_FORMS), t=rng.choice(FORM_TOPICS)))
    add("summarization", "complex", lambda: f"Summarise {rng.choice(HARD_WORKS)} {rng.choice(SUMMARY_QUALIFIERS)}.")
    add("classification", "complex", lambda: rng.choice(HARD_CLASSIFY).format(
        n=rng.choice([8, 12, 16, 18, 20, 27, 30]), conic=rng.choice(["x^2 + 4xy + y^2 = 1", "3x^2 - 2xy + 3y^2 = 8"]),
        lang_problem=rng.choice(["the equivalence of two context-free grammars", "the emptiness of a DFA"]),
        problem=rng.choice(["2-SAT", "graph isomorphism for trees", "integer linear programming", "3-colouring"])))
    add("none", "complex", lambda: f"{rng.choice(DEBATES)} {rng.choice(DEBATE_TAILS)}")

    # Long and easy.
    for task, asks in EASY_ASKS.items():
        add(task, "simple", lambda asks=asks: (
            f"{rng.choice(asks)}\n{_paragraph(rng)}" if rng.random() < 0.5 else f"{_paragraph(rng)}\n\n{rng.choice(asks)}"))
    add("coding", "simple", lambda: "Here's our config:\n" + "\n".join(rng.sample(CONFIG_LINES, rng.randint(9, 14)))
        + "\n" + rng.choice(CODE_ASKS))
    add("coding", "simple", lambda: "This is the log from this morning:\n" + "\n".join(
        f"2024-05-0{rng.randint(1, 9)} 0{rng.randint(6, 9)}:{rng.randint(10, 59)} {line}"
        for line in rng.sample(LOG_LINES, rng.randint(7, 11))) + "\n" + rng.choice(LOG_ASKS))
    add("math", "simple", lambda: (
        "Here are my expenses for the week, can you add them up? " + _paragraph(rng, 3, 5) + "\n"
        + "\n".join(f"- item {i + 1}: {rng.randint(2, 60)}.{rng.randint(0, 99):02d}" for i in range(rng.randint(8, 14)))))
    return out
