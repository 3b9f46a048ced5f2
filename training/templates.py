"""Templated prompt variations, used only for training (never in the held-out set).

They widen the vocabulary the handwritten prompts cover (more topics, languages, phrasings) without being the
only source: the handwritten files in data/prompts/ and the public sets carry the rest. `generate(seed)` is
deterministic.
"""

from __future__ import annotations

import random

TOPICS = [
    "the ocean", "a rainy Tuesday", "first love", "a lost umbrella", "the last train home", "an old lighthouse",
    "a city at night", "my grandmother's kitchen", "a broken clock", "the first day of school", "a lonely robot",
    "autumn in Vermont", "a dragon who collects teacups", "the smell of bread", "a forgotten letter", "moving abroad",
    "a summer storm", "a chess match", "the Northern Lights", "a stray dog", "climbing a mountain", "a bakery at dawn",
    "the end of a friendship", "a jazz club", "space travel", "a haunted bookstore", "a garden in winter",
    "a wedding that goes wrong", "the sound of the sea", "a detective's last case", "a small-town fair",
    "coffee", "Monday mornings", "a marathon", "a cat burglar", "time travel", "a desert island", "an AI that dreams",
]
FORMS = [
    "a haiku", "a limerick", "a sonnet", "a short poem", "a free-verse poem", "a short story", "a fable",
    "song lyrics", "a rap verse", "a bedtime story", "a two-sentence horror story", "a scene of dialogue",
    "an opening paragraph for a novel", "a ballad", "a piece of flash fiction", "a monologue", "a fairy tale",
]
CREATIVE_FRAMES = [
    "Write {form} about {topic}.", "Can you write {form} about {topic}?", "write {form} about {topic}",
    "Compose {form} about {topic}, {tone}.", "I need {form} about {topic} for {audience}.",
    "Give me {form} inspired by {topic}.", "Please write {form} on the theme of {topic}, {tone}.",
    "Could you come up with {form} about {topic}? Make it {adj}.",
]
TONES = ["in a melancholic tone", "with a twist ending", "in a humorous style", "for children", "in under 100 words",
         "in the style of a noir film", "with vivid imagery", "that rhymes", "in the second person"]
AUDIENCES = ["my daughter", "a school assembly", "a wedding", "my book club", "a retirement party", "my blog",
             "a greeting card", "a poetry contest", "our company newsletter"]
ADJS = ["funny", "sad", "uplifting", "spooky", "romantic", "whimsical", "dark", "short and sweet"]
WRITING_TASKS = [
    "a product description for {product}", "a catchy slogan for {product}", "a tagline for {product}",
    "a launch tweet for {product}", "an Instagram caption for {product}", "a landing page headline for {product}",
    "a short ad script for {product}",
]
PRODUCTS = ["a reusable water bottle", "an electric bike", "a meditation app", "a vegan cookbook",
            "a smart thermostat", "handmade soap", "a language-learning app", "a coffee subscription",
            "a children's science kit", "noise-cancelling earbuds", "a co-working space", "a dog-walking service"]

TECH_TOPICS = [
    "a neural network", "public-key encryption", "a compiler", "garbage collection", "DNS", "a load balancer",
    "photosynthesis", "a nuclear reactor", "the immune system", "a blockchain", "TCP congestion control",
    "a database index", "virtual memory", "HTTPS", "an electric motor", "a heat pump", "a jet engine",
    "the Doppler effect", "plate tectonics", "a lithium-ion battery", "the greenhouse effect", "a transistor",
    "OAuth", "a CDN", "Kubernetes", "a hash function", "a VPN", "a mortgage", "inflation", "radio waves",
    "a suspension bridge", "the human kidney", "mRNA vaccines", "a search engine", "a QR code", "JPEG compression",
    "a thermostat", "a 3D printer", "fiber optic cables", "a solar panel", "a refrigerator", "the stock market",
    "a wind turbine", "an MRI scanner", "containers", "a message queue", "two-factor authentication",
]
TECH_PAIRS = [
    ("TCP", "UDP"), ("RAM", "ROM"), ("a process", "a thread"), ("SQL", "NoSQL databases"), ("AC", "DC"),
    ("weather", "climate"), ("a virus", "a bacterium"), ("HTTP/1.1", "HTTP/2"), ("REST", "GraphQL"),
    ("mitosis", "meiosis"), ("a stock", "a bond"), ("LCD", "OLED screens"), ("machine learning", "deep learning"),
    ("symmetric", "asymmetric encryption"), ("a compiler", "an interpreter"), ("IPv4", "IPv6"),
]
TECH_FRAMES = [
    "How does {t} work?", "Explain {t} in simple terms.", "Can you explain how {t} works?", "What is {t}?",
    "Explain {t} to a beginner.", "ELI5: {t}", "how does {t} actually work", "Give me a clear explanation of {t}.",
    "I never understood {t}. Can you explain it?", "Walk me through how {t} works under the hood.",
    "What's the science behind {t}?", "Explain the inner workings of {t} in detail, with an example.",
]
TECH_PAIR_FRAMES = [
    "What's the difference between {a} and {b}?", "Explain the difference between {a} and {b}.",
    "{a} vs {b}: how do they differ?", "When would I use {a} instead of {b}, and why?",
]

PASSAGES = [
    ("The library will extend its opening hours during exam season, staying open until midnight from May 1 to "
    "June 15. Extra study rooms can be booked online, and the café will serve hot food until 10pm."),
    ("Our quarterly survey shows customer satisfaction rose to 87%, up from 81%. The main drivers were faster "
    "delivery and the new returns policy. Complaints about the mobile app remain the top issue."),
    ("Researchers tracked 3,000 commuters for two years and found that those who cycled to work took fewer sick "
    "days and reported lower stress than those who drove. The effect held after adjusting for age and income."),
    ("The new city ordinance bans single-use plastic bags from January. Shops may sell paper bags for 10 cents, "
    "and small businesses can apply for a six-month exemption."),
    ("Hi team, the release is postponed by a week because two critical bugs were found in the payment module. "
    "QA will retest on Thursday. Please don't merge anything to main until then."),
    ("The volcano erupted early on Sunday, sending ash 10 km into the air. Flights were cancelled across the "
    "region and around 2,000 residents were evacuated. No injuries have been reported."),
    ("Meeting notes: budget approved with a 5% cut to travel; Maria will lead the hiring for two engineers; the "
    "office move is delayed to March; next review on the 12th."),
    ("The study compared two teaching methods in 40 classrooms. Students taught with frequent low-stakes quizzes "
    "scored 12% higher on the final exam, but the benefit was smaller for students who were already strong."),
    ("Dear customer, due to scheduled maintenance our online banking service will be unavailable on Saturday "
    "from 1am to 5am. Card payments and ATMs will not be affected."),
    ("The startup raised $12 million in a Series A round led by two venture firms. It plans to use the money to "
    "expand its delivery-robot fleet to three new cities and to hire 50 people."),
    ("The patient presented with a three-day history of fever, cough and shortness of breath. Chest X-ray "
    "showed a right lower lobe infiltrate. She was started on antibiotics and improved within 48 hours."),
    ("After a long debate, the committee agreed to renovate the community pool rather than build a new one. "
    "Renovation will cost less and can be completed before next summer, though the pool will remain smaller."),
    ("The company announced that employees may work remotely three days a week. Teams will agree on two "
    "shared office days, and a monthly allowance will cover home-office equipment."),
    ("Chapter 3 follows Elena as she returns to her hometown after fifteen years, discovers her childhood home "
    "has been sold, and reluctantly agrees to help the new owners restore the garden her mother planted."),
    ("Sales of electric vehicles doubled last year, driven by lower battery prices and new tax credits. "
    "Charging infrastructure, however, has not kept pace, especially in rural areas."),
    ("The game update adds a new map, rebalances three weapons, fixes the matchmaking bug, and introduces "
    "cross-platform voice chat. Servers will be down for two hours during the rollout."),
    ("User interviews revealed that most people abandon the sign-up flow at the phone verification step. "
    "Several participants said they didn't understand why a phone number was needed."),
    ("The river flooded after four days of heavy rain, damaging 200 homes. The council has opened two emergency "
    "shelters and is asking volunteers to help with sandbags along the east bank."),
]
SUMMARY_BEFORE = [
    "Summarize this:", "Summarize the following text in one sentence:", "TL;DR:", "Give me a short summary of this:",
    "Can you summarise this for me?", "Condense this into three bullet points:", "What are the key points here?",
    "Sum this up in a few words:", "Write a brief summary of the following:", "Shorten this to a tweet:",
    "Summarize for a busy executive:", "Give me the gist of this text:", "Recap this in plain English:",
    "Résume ce texte :", "Resume el siguiente texto:", "Fasse den folgenden Text zusammen:",
]
SUMMARY_AFTER = ["Summarize the above.", "TL;DR?", "Can you give me the short version?",
                 "Please summarise this in two sentences.", "What's the main point?", "Key takeaways, please.",
                 "Summarize the text above in bullet points."]

CLASSIFY_ITEMS = [
    "The delivery was late but the product works great.", "Worst customer service I've ever had.",
    "It's fine, nothing special.", "Absolutely love this jacket!", "The battery died after two days.",
    "Click here to claim your free iPhone!!!", "Meeting moved to 3pm, see you there.",
    "My card was charged twice for the same order.", "Can you add a dark mode to the app?",
    "The hotel room was spotless and the staff were lovely.", "I can't log in since yesterday's update.",
    "Stocks fell sharply after the central bank's announcement.", "The team won the championship in overtime.",
    "New study links sleep to memory.", "Your package is waiting, confirm your address here.",
    "This is the third time I've asked for a refund.", "Great value for money.", "The app keeps crashing on start.",
]
LABEL_SETS = [
    "positive, negative or neutral", "spam or not spam", "billing, technical, account or other",
    "urgent or not urgent", "complaint, question or praise", "sports, politics, business, science or tech",
    "happy, angry, sad or neutral", "bug report, feature request or question", "formal or informal",
]
CLASSIFY_FRAMES = [
    "Classify this text as {labels}: '{item}'", "Is this {labels}? '{item}'", "Label the following as {labels}: {item}",
    "Categorize this message ({labels}): \"{item}\"", "What category is this, {labels}? {item}",
    "Sentiment analysis: '{item}'", "Which label fits best ({labels})? Text: {item}",
    "Tag this with one of {labels}: {item}", "classify: {item}", "Determine the category ({labels}) of: {item}",
]

LANGS = ["Python", "JavaScript", "TypeScript", "Go", "Rust", "Java", "C#", "C++", "Ruby", "PHP", "Kotlin",
         "Swift", "Bash", "SQL", "Scala", "Haskell", "R", "Elixir"]
CODE_TASKS = [
    "reverse a linked list", "parse a CSV file", "read a JSON config file", "merge two sorted arrays",
    "validate an email address", "compute a moving average", "find duplicates in a list", "implement binary search",
    "make an HTTP request with a timeout", "write a file atomically", "check if a string is an anagram",
    "remove whitespace from a string", "group records by a key", "implement a stack", "retry a failing call",
    "convert a date string to a timestamp", "count word frequencies in a text", "flatten nested lists",
    "paginate database results", "hash a password securely", "traverse a binary tree in order",
    "connect to PostgreSQL", "spawn a subprocess and capture its output", "debounce user input",
    "sort objects by two fields", "generate a UUID", "deep copy an object", "read environment variables",
]
CODE_ERRORS = [
    "IndexError: list index out of range", "TypeError: 'NoneType' object is not subscriptable",
    "Uncaught TypeError: Cannot read properties of undefined (reading 'map')", "error[E0382]: borrow of moved value",
    "java.lang.NullPointerException", "segmentation fault (core dumped)", "KeyError: 'id'",
    "fatal error: all goroutines are asleep - deadlock!", "SyntaxError: unexpected EOF while parsing",
    "ORA-00942: table or view does not exist", "CORS policy: No 'Access-Control-Allow-Origin' header",
    "ImportError: cannot import name 'x' from partially initialized module", "npm ERR! ERESOLVE unable to resolve dependency tree",
]
CODE_FRAMES = [
    "How do I {task} in {lang}?", "Write a {lang} function to {task}.", "{lang}: {task}", "how to {task} {lang}",
    "Show me idiomatic {lang} code to {task}.", "What's the best way to {task} in {lang}?",
    "Can you write {lang} code that will {task}, with tests?", "I need a {lang} snippet to {task}.",
    "Implement a function in {lang} to {task} and explain its complexity.",
]
ERROR_FRAMES = [
    "I'm getting '{err}' in my {lang} code. What does it mean?", "How do I fix {err}?", "{err} - help",
    "Why does my {lang} program fail with {err}?", "Debug this: {err}",
]

WORD_PROBLEMS = [
    "A shop sells pens at ${a} each. How much do {b} pens cost?",
    "Tom has {a} apples and gives away {b}. How many are left?",
    "A train leaves at {a}:00 and travels for {b} hours. When does it arrive?",
    "If a car travels {a} km in {b} hours, what is its average speed?",
    "A recipe needs {a} grams of sugar for {b} people. How much for {c} people?",
    "What is {a}% of {bb}?", "Solve for x: {a}x + {b} = {c}", "What is {a} times {b}?", "Compute {aa} + {bb}.",
    "What is {aa} divided by {b}?", "Find the area of a rectangle that is {a} m by {b} m.",
    "If I invest ${bb} at {a}% annual interest, how much will I have after {b} years with compound interest?",
    "Solve the system: x + y = {c}, x - y = {a}.", "What is the square root of {sq}?", "Simplify {a}/{c}.",
    "A class has {aa} students and {a}% are absent. How many are present?",
    "Find the derivative of {a}x^{b} + {c}x.", "Integrate {a}x^{b} dx.", "What is {a}^{b}?",
    "The sum of two numbers is {bb} and their difference is {a}. What are the numbers?",
    "How many ways can {a} people sit in a row?", "What is the probability of drawing {b} aces from a deck in a row?",
    "Prove that the sum of the first {a} odd numbers is {sqa}.",
]

COUNTRIES = ["France", "Japan", "Brazil", "Kenya", "Canada", "Norway", "India", "Mexico", "Egypt", "Australia",
             "Vietnam", "Argentina", "Poland", "Morocco", "Chile", "Thailand", "Ireland", "Portugal", "Ghana"]
FACT_FRAMES = [
    "What is the capital of {country}?", "What language do they speak in {country}?", "What's the population of {country}?",
    "What currency does {country} use?", "When is the best time to visit {country}?", "What food is {country} famous for?",
    "Plan a one-week trip to {country}.", "What should I pack for a trip to {country} in winter?",
    "Tell me some fun facts about {country}.", "Who is the head of state of {country}?",
]
PHRASES = ["good night", "where is the bathroom?", "how much does this cost?", "I'm allergic to peanuts",
           "see you tomorrow", "nice to meet you", "can I have the bill, please?", "happy birthday"]
LANGUAGES = ["Spanish", "French", "German", "Italian", "Japanese", "Korean", "Portuguese", "Dutch", "Turkish"]
CHARACTERS = ["a medieval knight", "a grumpy pirate", "Albert Einstein", "a 1920s jazz singer", "a wise old wizard",
              "a sarcastic butler", "a space station AI", "a cowboy", "my therapist", "a football coach"]
ADVICE = ["how to sleep better", "how to save money on groceries", "how to make friends in a new city",
          "what to get my dad for his birthday", "how to stay motivated at the gym", "how to ask for a raise",
          "whether I should adopt a cat or a dog", "how to stop procrastinating", "what to do this weekend",
          "how to deal with a difficult coworker", "which running shoes to buy", "how to care for a cactus"]
NONE_FRAMES = [
    "Translate '{phrase}' into {language}.", "How do you say '{phrase}' in {language}?",
    "Pretend you are {character} and introduce yourself.", "Roleplay as {character}. I'll start: hello!",
    "Talk to me like {character} would.", "Give me advice on {advice}.", "Any tips on {advice}?",
    "I need your opinion on {advice}.", "Can you help me figure out {advice}?",
]
GREETINGS = ["hi", "hello", "hey there", "good morning", "thanks!", "thank you so much", "how's it going?",
             "what can you do?", "who are you?", "are you there?", "nice, thanks", "bye", "see you later",
             "good evening!", "hello, how are you doing today?", "ok cool", "great, thanks for your help"]


def generate(seed: int = 0, per_class: int = 220) -> list[tuple[str, str, str]]:
    """(task_type, complexity, text) triples; complexity is left to the complexity model ("" here)."""
    rng = random.Random(seed)
    out: list[tuple[str, str, str]] = []

    def add(task: str, make) -> None:
        seen: set[str] = set()
        tries = 0
        while len(seen) < per_class and tries < per_class * 20:
            tries += 1
            text = make()
            if text not in seen:
                seen.add(text)
                out.append((task, "", text))

    add("creative_writing", lambda: rng.choice([
        lambda: rng.choice(CREATIVE_FRAMES).format(
            form=rng.choice(FORMS), topic=rng.choice(TOPICS), tone=rng.choice(TONES),
            audience=rng.choice(AUDIENCES), adj=rng.choice(ADJS)),
        lambda: "Write " + rng.choice(WRITING_TASKS).format(product=rng.choice(PRODUCTS)) + ".",
    ])())
    add("technical_explanation", lambda: rng.choice([
        lambda: rng.choice(TECH_FRAMES).format(t=rng.choice(TECH_TOPICS)),
        lambda: rng.choice(TECH_PAIR_FRAMES).format(a=(p := rng.choice(TECH_PAIRS))[0], b=p[1]),
    ])())

    def summary() -> str:
        passage = rng.choice(PASSAGES)
        if rng.random() < 0.6:
            return f"{rng.choice(SUMMARY_BEFORE)}\n{passage}"
        return f"{passage}\n\n{rng.choice(SUMMARY_AFTER)}"

    add("summarization", summary)
    add("classification", lambda: rng.choice(CLASSIFY_FRAMES).format(
        labels=rng.choice(LABEL_SETS), item=rng.choice(CLASSIFY_ITEMS)))
    add("coding", lambda: rng.choice([
        lambda: rng.choice(CODE_FRAMES).format(task=rng.choice(CODE_TASKS), lang=rng.choice(LANGS)),
        lambda: rng.choice(ERROR_FRAMES).format(err=rng.choice(CODE_ERRORS), lang=rng.choice(LANGS)),
    ])())

    def problem() -> str:
        a, b, c = rng.randint(2, 12), rng.randint(2, 9), rng.randint(10, 60)
        s = rng.randint(2, 30)
        return rng.choice(WORD_PROBLEMS).format(a=a, b=b, c=c, aa=rng.randint(20, 999), bb=rng.randint(100, 5000),
                                                sq=s * s, sqa=a * a)

    add("math", problem)
    add("none", lambda: rng.choice([
        lambda: rng.choice(FACT_FRAMES).format(country=rng.choice(COUNTRIES)),
        lambda: rng.choice(NONE_FRAMES).format(phrase=rng.choice(PHRASES), language=rng.choice(LANGUAGES),
                                               character=rng.choice(CHARACTERS), advice=rng.choice(ADVICE)),
        lambda: rng.choice(GREETINGS),
    ])())
    return out
