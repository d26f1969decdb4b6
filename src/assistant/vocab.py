"""The words the assistant recognises: places, seniority levels, role nouns, languages.

Everything is matched on `normalize()`d text (lower case, no accents, hyphens as spaces), so
"Liège", "liege" and "LIEGE" are one word. This module only holds vocabulary and the small
string helpers that use it; turning a question into slots happens in `understand.py`.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")


def normalize(text: str) -> str:
    # The same short strings (headings, names, a repeated question) are normalised on every
    # answer; a long one (a pasted history turn) is not worth keeping.
    return _normalize_short(text) if len(text) <= 512 else _normalize(text)


@lru_cache(maxsize=16384)
def _normalize_short(text: str) -> str:
    return _normalize(text)


def _normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    stripped = re.sub(r"[-_/]", " ", stripped)
    stripped = stripped.replace("'", " ").replace("’", " ")
    return re.sub(r"\s+", " ", stripped).strip()


def words(text: str) -> list[str]:
    return WORD.findall(normalize(text))


def singular(word: str) -> str:
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


# Canonical English name -> every spelling seen in the three languages. Longer aliases are
# matched first so that "Louvain-la-Neuve" is not read as Leuven.
PLACES: dict[str, tuple[str, ...]] = {
    "Leuven": ("leuven", "louvain"),
    "Brussels": ("brussels", "brussel", "bruxelles", "brussles"),
    "Ghent": ("ghent", "gent", "gand"),
    "Antwerp": ("antwerp", "antwerpen", "anvers"),
    "Bruges": ("bruges", "brugge"),
    "Mechelen": ("mechelen", "malines"),
    "Liège": ("liege", "luik", "luttich"),
    "Namur": ("namur", "namen"),
    "Hasselt": ("hasselt",),
    "Charleroi": ("charleroi",),
    "Kortrijk": ("kortrijk", "courtrai"),
    "Mons": ("mons",),
    "Ostend": ("ostend", "oostende", "ostende"),
    "Aalst": ("aalst", "alost"),
    "Genk": ("genk",),
    "Louvain-la-Neuve": ("louvain la neuve", "lln"),
    "Wavre": ("wavre", "waver"),
    "Sint-Niklaas": ("sint niklaas", "saint nicolas"),
    "Roeselare": ("roeselare", "roulers"),
    "Turnhout": ("turnhout",),
    "Arlon": ("arlon", "aarlen"),
}

COUNTRY = "Belgium"
# "Nationally", "nationwide", "landelijk" name the country as a place does ("And a lead,
# nationally?" continues the subject in the country-wide guide).
COUNTRY_ALIASES = ("belgium", "belgie", "belgique", "belgien", "belgian", "nationally",
                   "nationwide", "country wide", "landelijk")

# Localised display names for answers in Dutch and French.
PLACE_NAMES = {
    "nl": {"Brussels": "Brussel", "Ghent": "Gent", "Antwerp": "Antwerpen", "Bruges": "Brugge",
           "Liège": "Luik", "Namur": "Namen", "Ostend": "Oostende", "Belgium": "België"},
    "fr": {"Leuven": "Louvain", "Brussels": "Bruxelles", "Ghent": "Gand", "Antwerp": "Anvers",
           "Mechelen": "Malines", "Kortrijk": "Courtrai", "Ostend": "Ostende", "Aalst": "Alost",
           "Belgium": "Belgique"},
}

# Places outside Belgium that recruiters mention; the guides never cover them.
FOREIGN_PLACES = (
    "amsterdam", "rotterdam", "utrecht", "eindhoven", "maastricht", "the hague", "paris",
    "lille", "lyon", "london", "berlin", "munich", "cologne", "aachen", "frankfurt",
    "luxembourg", "dublin", "madrid", "barcelona", "lisbon", "milan", "rome", "zurich",
    "geneva", "vienna", "prague", "warsaw", "stockholm", "copenhagen", "oslo", "helsinki",
    "new york", "san francisco", "tokyo", "singapore", "netherlands", "france", "germany",
    "europe", "usa", "uk",
)

# Seniority: canonical level -> spellings. "lead" is its own level (DESIGN §1).
LEVELS: dict[str, tuple[str, ...]] = {
    "junior": ("junior", "juniors", "jr", "entry level", "starter", "starters",
               "beginner", "beginners", "graduate", "debutant", "debutants", "beginnend"),
    "mid": ("mid level", "mid", "medior", "mediors", "intermediate", "regular",
            "confirme", "confirmes", "intermediaire", "intermediaires", "mid career",
            "mid senior"),
    "senior": ("senior", "seniors", "sr", "experienced", "experimente", "experimentes",
               "ervaren"),
    "lead": ("lead", "leads", "tech lead", "team lead", "lead developer", "head of"),
    "principal": ("principal", "staff engineer", "architect", "architects"),
}
LEVEL_ORDER = ("junior", "mid", "senior", "lead", "principal")


def level_of_label(label: str) -> set[str]:
    """Which canonical levels a salary-table row label stands for ("Senior / Lead" -> both)."""
    found: set[str] = set()
    text = f" {normalize(label)} "
    for level, spellings in LEVELS.items():
        if any(f" {s} " in text for s in spellings):
            found.add(level)
    return found


# Head nouns of role names, in the three languages; a role is its distinctive words plus
# one of these classes ("backend" + developer).
ROLE_HEADS: dict[str, tuple[str, ...]] = {
    "developer": ("developer", "developers", "dev", "devs", "engineer", "engineers", "eng", "engs",
                  "engineering", "development",
                  "programmer", "programmers", "coder", "coders", "ontwikkelaar",
                  "ontwikkelaars", "programmeur", "programmeurs", "developpeur",
                  "developpeurs", "developpeuse", "ingenieur", "ingenieurs"),
    "scientist": ("scientist", "scientists", "wetenschapper", "wetenschappers",
                  "scientifique", "scientifiques"),
    "analyst": ("analyst", "analysts", "analist", "analisten", "analyste", "analystes"),
    "designer": ("designer", "designers", "ontwerper", "ontwerpers"),
    "manager": ("manager", "managers"),
    "owner": ("owner", "owners"),
    "master": ("master", "masters"),
    "tester": ("tester", "testers"),
    "architect": ("architect", "architects", "architecte", "architectes"),
    "administrator": ("administrator", "administrators", "admin", "admins", "beheerder",
                      "beheerders"),
    "consultant": ("consultant", "consultants"),
    "specialist": ("specialist", "specialists", "specialiste", "specialistes", "expert",
                   "experts", "professional", "professionals"),
}
HEAD_CLASS = {word: head for head, spellings in ROLE_HEADS.items() for word in spellings}

# Modifiers too vague to name a role without their head noun ("data" alone could be a
# data engineer or a data scientist).
VAGUE_MODIFIERS = {"data", "software", "it", "web", "cloud", "systems", "system", "network",
                   "product", "project", "business", "test", "security", "machine",
                   "learning", "solution", "solutions", "application", "ict", "tech",
                   # Languages and platforms are skills first: "do they use Java?" is not
                   # a question about Java developers unless it says "Java developer".
                   "java", "python", "php", "javascript", "typescript", "react", "nodejs",
                   "go", "rust", "cpp", "csharp", "dotnet", "salesforce", "sap", "ios",
                   "android", "kotlin", "swift", "scala", "ruby"}

# Developers named by one technology: the people a guide for the broader role describes
# when its text names the technology ("Java developers in Leuven" are the backend guide's
# "Java, .NET, Node.js, or Python" developers). Routing only: the guide's own role is named
# in the answer and its source.
SPECIALISTS = ("iOS Developers", "Android Developers", "Java Developers", "Python Developers",
               ".NET Developers", "PHP Developers", "JavaScript Developers", "React Developers",
               "Node.js Developers", "Go Developers", "Rust Developers", "C++ Developers",
               "Angular Developers", "Vue Developers", "Kotlin Developers", "Swift Developers",
               "Flutter Developers", "TypeScript Developers", "Scala Developers")

# Roles recruiters ask about, beyond those the corpus happens to hold; used to notice that a
# question is about a role the guides do not cover.
KNOWN_ROLES = (
    "Backend Developers", "Frontend Developers", "Full-Stack Developers", "Mobile Developers",
    "iOS Developers", "Android Developers", "DevOps Engineers", "Site Reliability Engineers",
    "Cloud Engineers", "Data Engineers", "Data Scientists", "Data Analysts",
    "Machine Learning Engineers", "AI Engineers", "QA Engineers", "QA Testers",
    "Security Engineers", "Cybersecurity Specialists", "Embedded Engineers",
    "Firmware Engineers", "Java Developers", "Python Developers", ".NET Developers",
    "PHP Developers", "JavaScript Developers", "React Developers", "Node.js Developers",
    "Go Developers", "Rust Developers", "C++ Developers", "Salesforce Developers",
    "SAP Consultants", "Game Developers", "Blockchain Developers", "Network Engineers",
    "System Administrators", "Database Administrators", "Solution Architects",
    "Software Architects", "Product Managers", "Project Managers", "Product Owners",
    "Scrum Masters", "UX Designers", "UI Designers", "Business Analysts",
    "Software Engineers", "Software Developers", "Web Developers", "IT Support Specialists",
)

# Spellings folded before role matching so that "back-end" and "back end" are "backend".
ROLE_SPELLINGS = {
    "back end": "backend", "front end": "frontend", "full stack": "fullstack",
    "dev ops": "devops", "site reliability": "sre", "machine learning": "ml",
    "artificial intelligence": "ai", "user experience": "ux", "quality assurance": "qa",
    "node.js": "nodejs", "node js": "nodejs", ".net": "dotnet", "c++": "cpp", "c#": "csharp",
    "cyber security": "cybersecurity",
}


def fold_role_spellings(normalized_text: str) -> str:
    text = f" {normalized_text} "
    for symbol, word in ((".net", " dotnet "), ("c++", " cpp "), ("c#", " csharp "),
                         ("node.js", " nodejs ")):
        text = text.replace(symbol, word)
    for variant, canonical in ROLE_SPELLINGS.items():
        text = text.replace(f" {variant} ", f" {canonical} ")
    return text.strip()


# The section heading patterns of the site's guides, mapped to a label. The label only names
# a list's kind in the answer's frame and its `facts` ("Key companies for …"); it never
# decides what a section can answer (a list under any other heading is quoted under that
# heading, see answer.list_part).
SECTION_TOPICS: tuple[tuple[str, str], ...] = (
    (r"salar|compensation|pay", "salary"),
    (r"compan|employer", "employers"),
    (r"hub|cowork", "hubs"),
    (r"universit|education|school", "universities"),
    (r"skill", "skills"),
    (r"tool", "tools"),
    (r"career", "career"),
    (r"demand|market", "demand"),
    (r"^why ", "why_hire"),
    (r"scene|ecosystem", "scene"),
    (r"^about ", "about_role"),
    (r"^browse |jobs", "jobs"),
)


def section_topic(heading: str) -> str:
    text = normalize(heading)
    for pattern, topic in SECTION_TOPICS:
        if re.search(pattern, text):
            return topic
    return "general"


# Words that mark a language; counted, not parsed. Not "medior": Belgian recruiters write it
# in English too ("medior devops pay liège").
LANGUAGE_MARKERS = {
    "nl": {"wat", "hoeveel", "verdient", "verdienen", "welke", "bedrijven", "werkgevers",
           "een", "het", "de", "van", "voor", "zijn", "universiteiten", "hogescholen",
           "loon", "salaris", "ontwikkelaar", "ontwikkelaars", "waar", "wie", "hoe", "en",
           "bij", "dan", "ook", "er", "welk", "kan", "je", "ik", "jij", "bedankt",
           "dank", "hallo", "goedemorgen", "waarom", "werken", "verdiensten",
           "hebben", "nodig", "vaardigheden", "zoeken", "werven"},
    "fr": {"quel", "quelle", "quels", "quelles", "combien", "gagne", "gagnent", "salaire",
           "salaires", "une", "les", "des", "du", "le", "la", "est", "sont", "entreprises",
           "employeurs", "universites", "ecoles", "developpeur", "developpeurs", "pour",
           "et", "au", "aux", "qui", "ou", "merci", "bonjour", "pourquoi", "quoi", "peux",
           "vous", "tu", "je", "salut", "un"},
    # "developer(s)" is no English marker: Dutch and French recruiters use the word too.
    "en": {"what", "how", "much", "which", "the", "does", "do", "earn", "salary", "is",
           "are", "companies", "employers", "universities", "for", "of", "and", "a", "an",
           "who", "where", "why", "thanks", "hello", "hi", "can", "you", "about", "there"},
}


def detect_language(text: str) -> str | None:
    """"en", "nl" or "fr"; None when the text has no marker word at all ("Hasselt?")."""
    tokens = words(text)
    scores = {lang: sum(token in markers for token in tokens)
              for lang, markers in LANGUAGE_MARKERS.items()}
    # "à" loses its accent in normalize() and would read as English "a".
    scores["fr"] += 2 * len(re.findall(r"(?<!\w)à(?!\w)", text.lower()))
    best = max(("en", "nl", "fr"), key=lambda lang: (scores[lang], lang == "en"))
    return best if scores[best] > 0 else None


# Typo tolerance: tokens of five letters or more that are one edit (two for long words) from
# a vocabulary word, with the same first letter, are read as that word.
NEVER_CORRECT = {"employees", "employee", "senior", "seniors", "salad", "sales", "general",
                 "gentle", "brussels", "agent", "agents", "meant", "levels", "lever",
                 "leaves", "hiring", "about", "there", "these", "those", "where", "which",
                 "their", "after", "other", "should", "would", "could", "first", "great",
                 "stack", "rates", "plans", "scenes", "tools", "tooling", "companies"}


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance, giving up (limit + 1) once it exceeds `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = ca != cb
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def by_initial(vocabulary: set[str]) -> dict[str, list[str]]:
    """The words a typo can be corrected to, by first letter."""
    found: dict[str, list[str]] = {}
    for word in sorted(vocabulary):
        if len(word) >= 5:
            found.setdefault(word[0], []).append(word)
    return found


def correct_typos(tokens: list[str], vocabulary: set[str],
                  candidates: dict[str, list[str]] | None = None) -> list[str]:
    by_first = candidates if candidates is not None else by_initial(vocabulary)
    corrected = []
    for token in tokens:
        if len(token) < 5 or token in vocabulary or token in NEVER_CORRECT or not token.isalpha():
            corrected.append(token)
            continue
        limit = 1 if len(token) < 9 else 2
        best, best_distance = token, limit + 1
        for candidate in by_first.get(token[0], ()):
            distance = edit_distance(token, candidate, limit)
            if distance < best_distance:
                best, best_distance = candidate, distance
        corrected.append(best)
    return corrected


# The embedding model and BM25 read English, and so do the guides. A Dutch or French
# question is glossed word by word into English for retrieval only (its answer is still
# framed in its own language): a translation aid, not a list of what can be asked.
GLOSS = {
    # Dutch
    "bedrijven": "companies", "bedrijf": "company", "werkgevers": "employers",
    "werkgever": "employer", "werven": "hire", "aanwerven": "hire", "verdient": "earn",
    "verdienen": "earn", "salaris": "salary", "salarissen": "salaries", "loon": "pay",
    "lonen": "pay", "bruto": "gross", "netto": "net", "universiteiten": "universities",
    "universiteit": "university", "hogescholen": "colleges", "hogeschool": "college",
    "scholen": "schools", "opleidingen": "education", "vaardigheden": "skills",
    "competenties": "skills", "tools": "tools", "gereedschap": "tools",
    "loopbaan": "career", "loopbaanpad": "career path", "carriere": "career",
    "doorgroeien": "progress", "vraag": "demand", "markt": "market", "tekort": "shortage",
    "waarom": "why", "hoeveel": "how many", "welke": "which", "wat": "what",
    "goedkoper": "cheaper", "duurder": "more expensive", "kosten": "costs",
    "softwarebedrijven": "software companies", "werkplekken": "workspaces",
    "stijgt": "rising", "groeit": "growing", "taal": "language", "talen": "languages",
    "gebruiken": "use", "werken": "work", "thuiswerk": "home working", "tech": "tech",
    "voordelen": "benefits advantages", "zoeken": "look for", "nodig": "need",
    "opzegtermijn": "notice period", "certificaten": "certifications",
    "certificeringen": "certifications", "aantrekken": "attract", "wervingstijd": "hiring time",
    # French
    "entreprises": "companies", "entreprise": "company", "employeurs": "employers",
    "employeur": "employer", "recrutent": "hire", "recruter": "hire", "embauchent": "hire",
    "gagne": "earn", "gagnent": "earn", "salaire": "salary", "salaires": "salaries",
    "brut": "gross", "universites": "universities", "universite": "university",
    "ecoles": "schools", "ecole": "school", "formations": "education",
    "competences": "skills", "outils": "tools",
    "parcours": "career path", "demande": "demand", "marche": "market",
    "penurie": "shortage", "pourquoi": "why", "combien": "how many", "quelles": "which",
    "quels": "which", "quel": "which", "quelle": "which", "moins": "less", "cher": "expensive",
    "langages": "languages", "utilisent": "use", "espaces": "spaces", "incubateurs": "incubators",
    "teletravail": "remote working", "avantages": "benefits advantages",
    "preavis": "notice period", "croissance": "growth", "delai": "time",
    "outil": "tool", "outillage": "tools", "formation": "training", "loyers": "rents",
    "bureaux": "offices", "bureau": "office", "quotidien": "daily", "infra": "infrastructure",
    # Dutch again: parts of compounds too ("kantoorhuren", "thuiswerkdagen"; see `gloss`)
    "kantoor": "office", "kantoren": "offices", "huren": "rents", "huur": "rent",
    "dagen": "days", "dag": "day", "niveau": "level", "nederlands": "dutch",
    "frans": "french", "engels": "english", "spreken": "speak", "welk": "which",
    "vragen": "ask", "vraagt": "asks", "rollen": "roles", "rol": "role",
}


def gloss(word: str) -> str:
    """`word` in English when the gloss knows it, or knows both parts of it (a Dutch
    compound: "kantoorhuren" is "office rents"); else the word itself."""
    known = GLOSS.get(word)
    if known is not None:
        return known
    for cut in range(len(word) - 3, 2, -1):
        head, tail = word[:cut], word[cut:]
        if head in GLOSS and tail in GLOSS:
            return f"{GLOSS[head]} {GLOSS[tail]}"
    return word
