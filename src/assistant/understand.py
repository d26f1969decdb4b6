"""A question (plus the conversation so far) -> `Query`: the exact slots routing needs.

Slots: places, roles, seniority levels, language, small-talk kind, whether a comparison is
asked, and the content words left over (`terms`). Places and roles come from the indexed
guides themselves plus a gazetteer of Belgian place names in three languages (`vocab.py`).
What a question is *about* (pay, employers, a reason, a count...) is not decided here: the
guides' text decides that, through retrieval (`evidence.py`). Follow-ups inherit the slots
they omit from earlier user turns; a turn with content words of its own is a new subject and
inherits only place, role and language. No model is involved, so the same question always
gives the same slots. Choosing guides from the slots is `catalogue.py`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache

from .vocab import (
    COUNTRY,
    COUNTRY_ALIASES,
    FOREIGN_PLACES,
    GLOSS,
    HEAD_CLASS,
    KNOWN_ROLES,
    LEVEL_ORDER,
    LEVELS,
    PLACES,
    SPECIALISTS,
    VAGUE_MODIFIERS,
    by_initial,
    correct_typos,
    detect_language,
    fold_role_spellings,
    gloss,
    normalize,
    singular,
    words,
)

SMALLTALK = {
    "greeting": re.compile(
        r"^(hi|hello|hey|hiya|yo|hallo|dag|goeiedag|goedemorgen|goedemiddag|bonjour|bonsoir|"
        r"salut|good (morning|afternoon|evening)|greetings)( there| assistant| team)?\W*$"),
    "thanks": re.compile(
        r"^(thanks|thank you|thx|ty|cheers|great thanks|ok thanks|bedankt|dank je|dank je wel|"
        r"dank u|dank u wel|merci|merci beaucoup|super merci)( (a lot|so much|very much))?\W*$"),
    "help": re.compile(
        r"^(help|\?|what can you do|what do you know|what can i ask( you)?|what do you cover|"
        r"which guides do you have|what guides (are there|do you have)|how does this work|"
        r"who are you|wat kan je( doen)?|wat kun je( doen)?|hulp|que peux tu faire|"
        r"que sais tu faire|aide|de quoi parles tu)\W*$"),
}
# "Thanks! And in Brussels?", "OK, what do seniors earn?": a courtesy before the question
# is no part of it (its words would be taken for the question's subject).
ACKNOWLEDGEMENT = re.compile(r"^(ok|okay|oke|nice|great|perfect|super|cool|good|top|right|"
                             r"alright|got it|i see|parfait|tres bien|d accord|prima|goed|mooi|"
                             r"fijn|oh|ah)\W*$")
LEADING_CLAUSE = re.compile(r"^\s*([^.!?,;:]{1,40}?)\s*[.!?,;:]+\s+(?=\S)")
INJECTION = re.compile(
    r"ignore (all |any |your |the |previous |prior |above )+(instructions|rules|prompts?)|"
    r"disregard (all |your |the |previous )+|system prompt|you are now|pretend (to be|you)|"
    r"act as|new instructions|override|jailbreak|negeer (alle |je )?instructies|"
    r"ignore(z)? (toutes )?(les |tes |vos )?instructions", re.IGNORECASE)
COMPARE = re.compile(
    r"\b(compare|comparison|compared|vs|versus|than|difference|differ|between|"
    r"vergelijk|vergeleken|verschil|tegenover|compar\w*|par rapport|entre|plutot|"
    # Dutch and French comparatives: "lager dan", "goedkoper dan", "moins cher qu'à"
    r"\w+er (?:\w+ ){0,6}?dan|(?:plus|moins) (?:\w+ ){0,2}qu\w*)\b")
FOLLOWUP_COMPARE = re.compile(r"\b(compare|compared|vs|versus|than|vergeleken|par rapport)\b")
# "Is that gross or net?", "Does that include bonuses?": a turn that points back at the
# previous answer asks about its evidence, so it keeps the previous subject and adds its own.
POINTS_BACK = re.compile(r"^(?:and |so |but )?(?:(?:is|are|was|were|does|do|did|would|will) "
                         r"(?:that|this|it|these|those)|that|those|these|"
                         r"(?:is|zijn|was) (?:dat|die|het)|(?:est ce que )?(?:c est|ce sont|ca))\b")
# A question for a count prefers evidence that has a number (see evidence.py's "count").
COUNT = re.compile(r"\b(how many|number of|how big|how large|hoeveel(?! (?:\w+er|meer|minder)\b)|aantal|"
                   r"combien de|combien d|"
                   r"nombre de)\b")
# "What does a backend developer do?": the role itself is the subject (answer.overview_part).
# Read only when the question has no other subject ("what do they do to stay current?" has).
DESCRIBES_ROLE = re.compile(r"^(?:what (?:does|do) .+ do\b|wat (?:doet|doen) |que (?:fait|font) )")
# A question for an amount of money ("what do they make?", "wat verdient…", "combien gagne…")
# prefers evidence that states one (evidence.py's "money"): the form of the answer, like a
# count or a list of names, never a gate.
# "What would a senior cost?" asks one; "the cost of living" names what costs.
AMOUNT = re.compile(r"\b(how much|earn\w*|make|makes|made|paid|pay|pays|salar\w*|wages?|comp|"
                    r"costs?(?! of)|tc|compensation|package|budget|envelope|enveloppe|"
                    r"figures?|verdien\w*|loon\w*|lonen|"
                    r"salaris\w*|betaal\w*|gagne\w*|salaire\w*|remuner\w*|paye\w*|paie\w*|paient)\b")
# "How much cheaper than Brussels?" asks for a difference (a share, a relation), which a
# sentence comparing the two places states and a pay table does not: no amount form.
COMPARES = re.compile(r"\b(?:how much (?:\w+er|more|less)|by how much|(?:cheap|high|low|expensive)\w* than|"
                      r"compared (?:to|with)|rather than|instead of|vergeleken met|in plaats van|"
                      r"par rapport (?:a|au|aux)|plutot qu\w*|hoeveel (?:\w+er|meer|minder)|"
                      r"\w+er (?:\w+ ){0,6}?dan|combien (?:de )?(?:plus|moins)|"
                      r"(?:plus|moins) (?:\w+ ){0,2}qu\w*)\b"
                      # a change or a share: "how much has demand grown?", "what percentage
                      # of ads ask for Angular?" is answered by a share, not a pay table
                      r"|\bhow much (?:(?!earn|make|pay|cost)\w+ ){1,6}?"
                      r"(?:grow|grew|grown|rise|rose|risen|increas\w*|"
                      r"decreas\w*|drop\w*|fall|fell|fallen|go up|went up|gone up)\b"
                      r"|\b(?:percentage|percent|proportion|what share|procent|pourcentage|"
                      r"quelle part|welk deel|hoeveel procent)\b")
# A comparison asked as a figure ("how much more…?", "what percentage…?") is answered by a
# share or an amount, not by a list that merely names what is compared.
SHARE_ASKED = re.compile(r"\b(?:percentage|percent|proportion|what share|procent|pourcentage|"
                         r"quelle part|welk deel)\b")
QUANTITY_ASKED = re.compile(r"\b(?:how much|hoeveel|combien)\b")
# "Do the salary figures include the company car?" asks yes or no about pay, not for an
# amount: the note beside the table answers it, not the rows.
YES_NO = re.compile(r"^(?:do|does|did|is|are|was|were|can|could|will|would|should|has|have|"
                    r"zijn|worden|bevat\w*|est ce que|sont)\b(?!.*\bhow much\b)")
# "Besides the university, who hires?", "Beyond base salary, which benefits…?": what the
# aside names is what the question is *not* about, so its words are no content words (it
# would draw the universities list or the pay table). Only a short phrase closed by a comma
# or by the question after it.
ASIDE = re.compile(r"\b(?:besides|beyond|apart from|aside from|other than|except(?: for)?|"
                   r"excluding|naast|behalve|buiten|afgezien van|en dehors d[eu]s?|a part|"
                   r"hormis|outre)\s+((?:[\w.']+\s+){0,3}[\w.']+)"
                   # closed by a comma, by the question that follows it ("besides salary
                   # what do they get?"), or by the end of the question ("who hires besides
                   # imec?")
                   r"(?:\s*[,;]|\s*[?!.]*\s*$|\s+(?=(?:what|which|who|where|how|do|does|is|are|"
                   r"can|wat|welke|wie|waar|hoe|quel\w*|qui|ou|comment)\b))")
# "Why is it hard to hire seniors?" asks for a reason, which prose gives and a table or a
# list of names does not (evidence.py's "reason").
WHY = re.compile(r"\b(?:why|waarom|pourquoi|how come|what makes|what s driving|what drives|"
                 r"what is driving|what s behind|what is behind|reason for|reasons for)\b")
WHY_WORDS = {"driving", "drives", "behind", "reason", "reasons", "makes"}
# "How long does it take…?" is answered by a duration (evidence.py verifies).
HOW_LONG = re.compile(r"\b(?:how long|hoe lang|combien de temps)\b")
# "When was KU Leuven founded?", "What time does the boat leave?": a time or date is asked,
# so evidence that states none does not answer (evidence.py verifies). "When" only opening
# the question: "which skills matter when hiring" asks for skills.
WHEN = re.compile(r"^(?:when|since when|wanneer|sinds wanneer|quand|depuis quand)\b"
                  r"|\b(?:what time|which year|what year|in welk jaar|hoe laat|a quelle heure|"
                  r"en quelle annee|opening hours|openingsuren|openingstijden|heures d ouverture)\b")
# "What's the day rate?", "TJM", "per hour": an amount per day or hour, which a yearly or
# monthly salary table does not state (evidence.py verifies: "the guide gives gross yearly
# salaries, not day rates").
PER_DAY = re.compile(r"\b(?:per (?:working )?day|a day|daily|day ?rates?|tjm|taux journaliers?|"
                     r"tarifs? journaliers?|par jour|dagtarie\w*|dagprij\w*|per dag)\b")
PER_HOUR = re.compile(r"\b(?:per hour|an hour|hourly|hour rates?|uurtarie\w*|per uur|"
                      r"taux horaires?|tarifs? horaires?|par heure|de l heure)\b")
# "Who is hiring?" asks for names: it prefers a list of them (evidence.py's "names").
WHO = re.compile(r"\b(who|whom|wie|qui)\b")
# What is counted: the words right after "how many" ("how many software firms"); an answer
# to it must state a number of that (evidence.py verifies, it does not route). Not "hoeveel":
# it is also "how much" ("hoeveel verdient…"), and a verb is not what is counted.
COUNTED_AFTER = re.compile(r"\b(?:how many|number of|aantal|combien de|combien d|nombre de) "
                           r"((?:[\w-]+ ?){1,3})"
                           r"|\bhoeveel ((?:[\w-]+ ){1,3})(?=(?:zijn|werken|wonen|bestaan|zitten)\b)")
_LEVEL_WORDS = "|".join(sorted({re.escape(s) for v in LEVELS.values() for s in v}, key=len, reverse=True))
# "from junior to senior", "van junior tot senior": every level in between is asked too.
# ("between junior and senior" is left alone: that is usually a comparison of the two.)
LEVEL_SPAN = re.compile(rf"\b(?:(?:from|van|de) )?({_LEVEL_WORDS}) (?:to|through|tot|a) ({_LEVEL_WORDS})\b")
CAPITALISED_PLACE = re.compile(
    r"\b(?:in|near|around|à|te|rond|autour de)\s+([A-Z][a-zà-ÿ]+(?:[- ][A-Z][a-zà-ÿ]+)?)")
NOT_PLACES = {"english", "dutch", "french", "german", "flemish", "java", "python", "go",
              "rust", "react", "kotlin", "swift", "january", "february", "march", "april",
              "may", "june", "july", "august", "september", "october", "november",
              "december", "total", "general", "short", "detail", "euros", "euro", "q1", "q2",
              "q3", "q4", "tech", "it", "belgian", "addition", "practice", "fact"}
STOPWORDS = set("""one ones
a an the and or but if of in on at to for from by with about as is are was were be been do
does did doing have has had what which who whom whose where when why how much many any some
this that these those there here it its i me my we our you your they them their he she can
could would should will shall may might must please tell give show list know want need get
find looking look let us like more most best good typical typically usually average around
per each also just only really very so than then into out up down over under again such
de het een en van voor in op te met wat welke wie waar hoe hoeveel is zijn er ook dan bij
le la les un une des du et ou en dans pour avec quel quelle quels quelles qui est sont au aux
ce cette ces que quoi combien
""".split())


@dataclass(frozen=True)
class Form:
    """The form of answer a question asks for: a count (of what), names, an amount of money
    (and the words asking for it), how two things compare, why, how long. Evidence prefers
    units that have it (`evidence.rank_units`); it never decides what the question is about."""

    count: bool = False  # "how many"
    counted: tuple[str, ...] = ()  # the words naming what is counted, when it says
    who: bool = False
    amount: bool = False  # an amount of money
    amount_words: tuple[str, ...] = ()  # the content words that ask for it ("earn", "salary")
    relation: bool = False  # how two things compare ("how much cheaper than…")
    # The comparison asked as a figure: "share" ("what percentage…?") is answered by a share,
    # "money" ("how much more do they earn…?") by a share or an amount, "number" ("how much
    # longer…?") by any figure.
    figure: str | None = None
    reason: bool = False  # why
    duration: bool = False  # how long
    when: bool = False  # a time or date
    per: str | None = None  # "day" or "hour": the amount asked is per day or per hour

    def continuing(self, earlier: Form) -> Form:
        """This form in a follow-up that continues `earlier`'s subject ("And in Ghent?"):
        what either turn asks for; the words asking for it are the earlier turn's."""
        return Form(count=self.count or earlier.count, counted=self.counted or earlier.counted,
                    who=self.who or earlier.who, amount=self.amount or earlier.amount,
                    amount_words=earlier.amount_words,
                    relation=self.relation or earlier.relation,
                    figure=self.figure or earlier.figure,
                    reason=self.reason or earlier.reason,
                    duration=self.duration or earlier.duration, when=self.when or earlier.when,
                    per=self.per or earlier.per)


@dataclass(frozen=True)
class Query:
    text: str
    lang: str = "en"
    lang_marked: bool = False  # False: too short to tell; a follow-up keeps the context's
    places: tuple[str, ...] = ()  # canonical names; "Belgium" for the whole country
    unknown_places: tuple[str, ...] = ()  # named places no guide can cover
    roles: tuple[str, ...] = ()  # role names as the guides write them
    unknown_roles: tuple[str, ...] = ()  # roles recognised but not in any guide
    levels: tuple[str, ...] = ()
    smalltalk: str | None = None
    compare: bool = False
    injection: bool = False
    terms: tuple[str, ...] = field(default=(), compare=False)  # content words, typo-corrected
    # The question without its place and role words: what retrieval embeds. Every unit of a
    # routed guide repeats those words, so they would only favour the shortest units.
    search_text: str = ""
    form: Form = Form()  # the form of answer it asks for
    describes_role: bool = False  # "what does a … do?"
    followup: bool = False

    @property
    def has_slots(self) -> bool:
        return bool(self.places or self.unknown_places or self.roles or self.unknown_roles
                    or self.levels)

    @property
    def has_subject(self) -> bool:
        return bool(self.terms or self.levels or self.form.counted)  # "how many developers?" too


@dataclass(frozen=True)
class RoleForm:
    name: str
    distinct: tuple[str, ...]
    head: str | None  # the head noun's class ("developer" for engineers and developers)
    head_word: str | None  # the head noun itself, singular ("engineer")
    known: bool  # True when a guide covers it


class Vocabulary:
    """The matching vocabulary for one set of indexed roles (built once per catalogue)."""

    def __init__(self, corpus_roles: list[str], corpus_places: tuple[str, ...] = (),
                 corpus_words: frozenset[str] = frozenset()) -> None:
        covered = {normalize(role) for role in corpus_roles}
        names = list(dict.fromkeys([*corpus_roles, *(r for r in (*KNOWN_ROLES, *SPECIALISTS)
                                                     if normalize(r) not in covered)]))
        self.roles = [self._role_form(name, normalize(name) in covered) for name in names]
        # "React developers" where a guide's text says "React": that guide's people.
        specialists = {normalize(name) for name in SPECIALISTS}
        self.specialists = {form for form in self.roles if not form.known
                            and normalize(form.name) in specialists
                            and all(w in corpus_words for w in form.distinct)}
        # A guide's own place is a place even when the gazetteer does not know it ("Lier").
        gazetteer = {normalize(alias) for aliases in PLACES.values() for alias in aliases}
        own = [(normalize(place), place) for place in corpus_places
               if normalize(place) not in gazetteer and normalize(place) not in COUNTRY_ALIASES]
        self.place_aliases = sorted(
            [(alias, city) for city, aliases in PLACES.items() for alias in aliases]
            + own + [(alias, COUNTRY) for alias in COUNTRY_ALIASES],
            key=lambda pair: -len(pair[0]),
        )
        self.place_of_alias = dict(self.place_aliases)
        vocabulary = {alias for alias, _ in self.place_aliases if " " not in alias}
        vocabulary |= {s for spellings in LEVELS.values() for s in spellings if " " not in s}
        # The guides' own words: a typo is corrected towards what the guides say.
        vocabulary |= {w for w in corpus_words if w.isalpha()} | set(GLOSS)
        vocabulary |= {w for english in GLOSS.values() for w in english.split()}
        vocabulary |= {w for form in self.roles for w in form.distinct}
        vocabulary |= set(HEAD_CLASS)
        # Words inside multi-word phrases ("entry level", "big names") are real words too:
        # left out, typo tolerance turned "level" into "levels" and "names" into "namen".
        phrases = [a for a, _ in self.place_aliases] + [s for v in LEVELS.values() for s in v]
        vocabulary |= {w for phrase in phrases if " " in phrase for w in phrase.split()}
        self.vocabulary = vocabulary
        self.candidates = by_initial(vocabulary)  # built once: the corpus adds thousands

    @staticmethod
    def _role_form(name: str, known: bool) -> RoleForm:
        tokens = [singular(w) for w in words(fold_role_spellings(normalize(name)))]
        head = HEAD_CLASS.get(tokens[-1]) if tokens else None
        distinct = tuple(tokens[:-1] if head else tokens)
        return RoleForm(name, distinct or tuple(tokens), head, tokens[-1] if head else None, known)

    def match_roles(self, tokens: list[str]) -> list[RoleForm]:
        # (start, end, how well the head noun fits, form): 2 = the role's own head noun
        # ("QA engineer" for QA Engineers), 1 = its class, 0 = none written.
        found: list[tuple[int, int, int, RoleForm]] = []
        for form in self.roles:
            n = len(form.distinct)
            for i in range(len(tokens) - n + 1):
                if tuple(tokens[i:i + n]) != form.distinct:
                    continue
                window = tokens[max(0, i - 2):i] + tokens[i + n:i + n + 2]
                fit = max((2 if w == form.head_word else 1 for w in window
                           if form.head is not None and HEAD_CLASS.get(w) == form.head), default=0)
                vague = all(w in VAGUE_MODIFIERS for w in form.distinct)
                if fit or (not vague and form.head != "scientist"):
                    found.append((i, i + n, fit, form))
        # Roles sharing the same words ("QA Engineers", "QA Testers") are told apart by the
        # head noun the question writes; then a longer match hides a shorter one inside it
        # ("data scientist" over "data").
        best_fit = {}
        for start, end, fit, _form in found:
            best_fit[(start, end)] = max(fit, best_fit.get((start, end), 0))
        found = [m for m in found if m[2] == best_fit[(m[0], m[1])]]
        kept = [m for m in found if not any(o is not m and o[0] <= m[0] and m[1] <= o[1]
                                            and o[1] - o[0] > m[1] - m[0] for o in found)]
        return list(dict.fromkeys(form for *_, form in sorted(kept, key=lambda m: m[0])))


@lru_cache(maxsize=16)
def vocabulary_for(corpus_roles: tuple[str, ...], corpus_places: tuple[str, ...] = (),
                   corpus_words: frozenset[str] = frozenset()) -> Vocabulary:
    return Vocabulary(list(corpus_roles), corpus_places, corpus_words)


@lru_cache(maxsize=256)
def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    # One alternation per phrase list, longest first, so "louvain la neuve" wins over
    # "louvain"; compiled once (a regex per phrase per question cost a millisecond).
    ordered = sorted(set(phrases), key=len, reverse=True)
    return re.compile(rf"(?<![a-z0-9])(?:{'|'.join(map(re.escape, ordered))})(?![a-z0-9])")


def _find_phrases(text: str, phrases: tuple[str, ...]) -> list[tuple[int, str]]:
    """(start, phrase) of each non-overlapping whole-word occurrence of any of `phrases`."""
    return [(match.start(), match.group()) for match in _phrase_pattern(tuple(phrases)).finditer(text)]


def _level_span(corrected: str, levels: list[str]) -> list[str]:
    match = LEVEL_SPAN.search(corrected)
    if not match:
        return levels
    ends = [next(level for level, spellings in LEVELS.items() if word in spellings)
            for word in match.groups()]
    low, high = sorted(LEVEL_ORDER.index(level) for level in ends)
    return sorted(set(levels) | set(LEVEL_ORDER[low:high + 1]), key=LEVEL_ORDER.index)


# A pure function of the text and the vocabulary, and the costliest step of a warm answer
# after ranking (~0.4 ms: typo correction, role matching): a question asked again (a widget's
# example, an earlier turn re-read in context) is parsed once. Queries are frozen.
@lru_cache(maxsize=4096)
def parse(text: str, vocabulary: Vocabulary) -> Query:
    """Slots of one message, without any conversation context."""
    lead = LEADING_CLAUSE.match(text)
    if lead and len(text) > lead.end():
        clause = normalize(lead.group(1))
        if ACKNOWLEDGEMENT.match(clause) or any(SMALLTALK[kind].match(clause)
                                               for kind in ("greeting", "thanks")):
            return parse(text[lead.end():], vocabulary)
    detected = detect_language(text)
    folded = fold_role_spellings(normalize(text))
    raw_tokens = words(folded)
    tokens = correct_typos(raw_tokens, vocabulary.vocabulary, vocabulary.candidates)
    corrected = " ".join(tokens)
    aside = ASIDE.search(folded)
    if aside:  # the subject is what the aside leaves: its words are neither terms nor form
        start = len(words(folded[:aside.start()]))
        tokens = tokens[:start] + tokens[start + len(words(aside.group())):] or tokens
        corrected = " ".join(tokens)
    singular_tokens = [singular(t) for t in tokens]

    smalltalk = next((kind for kind, pattern in SMALLTALK.items()
                      if pattern.match(normalize(text))), None)

    place_of = vocabulary.place_of_alias
    found_places = _find_phrases(corrected, tuple(place_of))
    ordered_places = tuple(dict.fromkeys(place_of[alias] for _, alias in found_places))
    unknown = [p for _, p in sorted(_find_phrases(corrected, FOREIGN_PLACES))]
    for candidate in CAPITALISED_PLACE.findall(text):
        key = normalize(candidate)
        if " " not in key:  # "Lueven" is read as Leuven above; not also an unknown place
            key = correct_typos([key], vocabulary.vocabulary, vocabulary.candidates)[0]
        if (key not in NOT_PLACES and key not in vocabulary.vocabulary
                and key not in vocabulary.place_of_alias
                and not any(key in form.distinct for form in vocabulary.roles)):
            unknown.append(key)
    unknown_places = tuple(dict.fromkeys(p.title() for p in unknown))

    roles = vocabulary.match_roles(singular_tokens)
    # "QA testers" when the guides cover QA Engineers only: the same people to a recruiter,
    # and the guide's title in the answer's source says which role it is written for.
    # Not when the shared word is vague: a data engineer is not a data scientist.
    covered = {form.distinct: form for form in vocabulary.roles
               if form.known and not all(w in VAGUE_MODIFIERS for w in form.distinct)}
    roles = list(dict.fromkeys(form if form.known else covered.get(form.distinct, form)
                               for form in roles))
    # A technology's developers whom a guide's text names: the technology is a content word
    # and the place (or that word) routes, not a role no guide covers.
    roles = [form for form in roles if form not in vocabulary.specialists]
    # "lead" before an article is a verb ("which firms lead the market"), not a level.
    level_text = re.sub(r"\blead (?=(?:the|a|an|de|het|een|le|la|les|un|une)\b)", "- ", corrected)
    levels = sorted({level for level, spellings in LEVELS.items()
                     if _find_phrases(level_text, spellings)}, key=LEVEL_ORDER.index)
    levels = _level_span(level_text, levels)
    slot_words = {w for alias, _ in vocabulary.place_aliases for w in alias.split()}
    # Only the roles this question names: "Java" in "do they use Java?" is a content word.
    role_words = {w for form in roles for w in form.distinct} | set(HEAD_CLASS)
    slot_words |= role_words
    slot_words |= {w for spellings in LEVELS.values() for s in spellings for w in s.split()}
    terms = tuple(dict.fromkeys(t for t in tokens if t not in STOPWORDS and t not in slot_words
                                and singular(t) not in slot_words  # "devops" is "devop"'s
                                and len(t) > 1 and not t.isdigit()))
    place_words = {w for alias, _ in vocabulary.place_aliases for w in alias.split()}
    search = " ".join(t for t in tokens if t not in place_words
                      and singular(t) not in role_words and t not in role_words)
    if detected in ("nl", "fr"):  # retrieval reads English: gloss the words it knows
        search = " ".join(gloss(t) for t in search.split())
        terms = tuple(dict.fromkeys(w for t in terms for w in gloss(t).split()
                                    if w not in STOPWORDS))
    return Query(
        form=Form(
            count=bool(COUNT.search(corrected)), counted=counted_words(corrected, detected),
            who=bool(WHO.search(corrected)),
            amount=bool(AMOUNT.search(corrected)) and not COMPARES.search(corrected)
            and not YES_NO.match(corrected),
            amount_words=tuple(t for t in terms if AMOUNT.fullmatch(t)),
            relation=bool(COMPARES.search(corrected)),
            figure=None if not COMPARES.search(corrected)
            else "share" if SHARE_ASKED.search(corrected)
            else None if not QUANTITY_ASKED.search(corrected)
            else "money" if AMOUNT.search(QUANTITY_ASKED.sub(" ", corrected)) else "number",
            reason=bool(WHY.search(corrected)),
            duration=bool(HOW_LONG.search(corrected)), when=bool(WHEN.search(corrected)),
            per="day" if PER_DAY.search(corrected) else "hour" if PER_HOUR.search(corrected)
            else None),
        describes_role=bool(DESCRIBES_ROLE.match(corrected)),
        text=text, lang=detected or "en", lang_marked=detected is not None,
        places=ordered_places,
        unknown_places=unknown_places,
        roles=tuple(f.name for f in roles if f.known),
        unknown_roles=tuple(f.name for f in roles if not f.known),
        levels=tuple(levels),
        smalltalk=None if (ordered_places or roles) else smalltalk,
        compare=bool(COMPARE.search(corrected)) and (len(ordered_places) > 1 or len(roles) > 1
                                                     or len(levels) > 1),
        injection=bool(INJECTION.search(normalize(text))), terms=terms,
        search_text=search or corrected,
    )


# Where a second question starts: after a question mark, or at "and" + a question word
# ("How big is Mechelen, and how many companies there…?").
_QUESTION_WORDS = (r"how|what|which|who|where|why|when|is|are|do|does|can|hoe|wat|welke|wie|waar|"
                   r"waarom|wanneer|comment|combien|quel|quels|quelle|quelles|qui|ou|pourquoi|quand")
PART_BREAK = re.compile(rf"\?\s+(?=\S)|,?\s+(?:and|en|et)\s+(?=(?:{_QUESTION_WORDS})\b)", re.IGNORECASE)
_ASKS = re.compile(rf"(?:{_QUESTION_WORDS})\b")
# A part that points back at the first one's subject ("how long does it take?") is not a
# question of its own; "they" and "them" are usually the people, whom the context supplies.
_POINTS_INTO = re.compile(r"\b(it|this|that|het|dat|cela|ca)\b")


def question_parts(text: str) -> list[str]:
    """A message asking two things, split in two; otherwise the message alone. Only a part
    that stands on its own is split off: one that points back stays with the first."""
    pieces = [p.strip(" ,;") for p in PART_BREAK.split(text.strip(), maxsplit=1)]
    # "OK, and what does a lead earn?": a part of a word or two is not a question.
    if (len(pieces) != 2 or any(len(words(p)) < 3 for p in pieces)
            or _POINTS_INTO.search(normalize(pieces[1]))):
        return [text]
    # "What does imec pay? Candidate is comparing us with them": a statement after the
    # question is its context, not a second question to answer from whatever it names.
    if not pieces[1].endswith("?") and not _ASKS.match(normalize(pieces[1])):
        return [text]
    return [pieces[0] if pieces[0].endswith("?") else f"{pieces[0]}?", pieces[1]]


def counted_words(text: str, lang: str | None) -> tuple[str, ...]:
    """The words after "how many", up to the first function word, glossed to English."""
    found = COUNTED_AFTER.search(text)
    if not found:
        return ()
    counted: list[str] = []
    for word in (found.group(1) or found.group(2)).split():
        if word in STOPWORDS:
            break
        counted.append(word)
    if lang in ("nl", "fr"):
        counted = [w for word in counted for w in gloss(word).split()]
    return tuple(counted)


def merge(query: Query, context: Query | None) -> Query:
    """Fill the slots a follow-up omits from the conversation's running `context`.

    A turn with content words of its own ("What about universities?", "Is that gross or
    net?") is a new subject: it inherits place, role and language only. A turn without any
    ("And seniors?", "What about Hasselt?", "How does that compare with Ghent?") continues
    the previous subject: it inherits its content words, search text and, unless it names
    its own, its levels."""
    if context is None or query.smalltalk:
        return query
    compare_followup = bool(FOLLOWUP_COMPARE.search(normalize(query.text)))
    named_place = bool(query.places or query.unknown_places)
    named_role = bool(query.roles or query.unknown_roles)
    places, unknown_places = query.places, query.unknown_places
    if not named_place:
        places, unknown_places = context.places, context.unknown_places
    elif compare_followup and context.places:
        places = tuple(dict.fromkeys([*context.places, *places]))
    roles, unknown_roles = query.roles, query.unknown_roles
    if not named_role:
        roles, unknown_roles = context.roles, context.unknown_roles
    # "How does that compare with Antwerp?": comparing is a slot, not a subject of its own.
    # Nor is asking why of it ("What's driving it?", "And the reason?").
    own_subject = any(not COMPARE.fullmatch(t) and t not in WHY_WORDS for t in query.terms)
    points_back = bool(POINTS_BACK.match(normalize(query.text)))
    terms = query.terms if own_subject else context.terms
    search = query.search_text if own_subject else " ".join(
        [context.search_text, *(w for w in words(query.text) if w in _LEVEL_SPELLINGS)])
    if own_subject and points_back:
        terms = tuple(dict.fromkeys([*context.terms, *query.terms]))
        search = f"{context.search_text} {query.search_text}"
        own_subject = False
    levels = query.levels or (() if own_subject else context.levels)
    return replace(
        query, lang=query.lang if query.lang_marked else context.lang,
        places=places, unknown_places=unknown_places, roles=roles,
        unknown_roles=unknown_roles, levels=levels, terms=terms, search_text=search,
        form=query.form if own_subject else query.form.continuing(context.form),
        compare=len(places) > 1 or len(roles) > 1 or (len(levels) > 1 and query.compare),
        followup=True,
    )


_LEVEL_SPELLINGS = {w for spellings in LEVELS.values() for s in spellings for w in s.split()}


def understand(question: str, history: list[dict], vocabulary: Vocabulary) -> Query:
    """Slots of `question` in the context of the earlier user turns of `history`."""
    context: Query | None = None
    for turn in history:
        if turn.get("role") == "user" and isinstance(turn.get("content"), str):
            parsed = parse(turn["content"], vocabulary)
            if (parsed.has_slots or parsed.terms) and not parsed.smalltalk:
                context = merge(parsed, context)
    return merge(parse(question, vocabulary), context)
