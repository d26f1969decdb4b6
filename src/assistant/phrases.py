"""The sentences the assistant says, in English, Dutch and French.

Templates only: no figures live here (every number in an answer comes from a guide's own
text), and no logic beyond picking the language. Guide text that is quoted stays as the
guide wrote it; only the frame around it is translated.
"""

from __future__ import annotations

from .vocab import PLACE_NAMES, SPECIALISTS

TEMPLATES: dict[str, dict[str, str]] = {
    "other_part": {
        "en": "The guides do not answer the other part of the question (“{part}”).",
        "nl": "Het andere deel van de vraag (“{part}”) beantwoorden de gidsen niet.",
        "fr": "Les guides ne répondent pas à l'autre partie de la question (« {part} »).",
    },
    "salary_one": {
        "en": "{level} {role} in {place} earn {range} {period}.",
        "nl": "{level} {role} in {place} verdienen {range} {period}.",
        "fr": "Les {role} ({level}) à {place} gagnent {range} {period}.",
    },
    "salary_rows": {
        "en": "Salary ranges for {role} in {place} ({period}): {rows}.",
        "nl": "Salarisvorken voor {role} in {place} ({period}): {rows}.",
        "fr": "Fourchettes de salaire des {role} à {place} ({period}) : {rows}.",
    },
    "employers": {
        "en": "Key companies for {role} in {place}: {items}.",
        "nl": "Belangrijke bedrijven voor {role} in {place}: {items}.",
        "fr": "Entreprises clés pour les {role} à {place} : {items}.",
    },
    "hubs": {
        "en": "Tech hubs and coworking spaces in {place}: {items}.",
        "nl": "Tech hubs en coworkingplekken in {place}: {items}.",
        "fr": "Tech hubs et espaces de coworking à {place} : {items}.",
    },
    "universities": {
        "en": "Universities and schools in {place}: {items}.",
        "nl": "Universiteiten en hogescholen in {place}: {items}.",
        "fr": "Universités et écoles à {place} : {items}.",
    },
    "skills": {
        "en": "Key skills for {role} in {place}: {items}.",
        "nl": "Belangrijke vaardigheden voor {role} in {place}: {items}.",
        "fr": "Compétences clés des {role} à {place} : {items}.",
    },
    "tools": {
        "en": "Common tools for {role} in {place}: {items}.",
        "nl": "Veelgebruikte tools voor {role} in {place}: {items}.",
        "fr": "Outils courants des {role} à {place} : {items}.",
    },
    "career": {
        "en": "Typical career path for {role} in {place}: {items}.",
        "nl": "Typisch loopbaanpad voor {role} in {place}: {items}.",
        "fr": "Parcours de carrière typique des {role} à {place} : {items}.",
    },
    "list": {
        "en": "{title} › {section}: {items}.",
        "nl": "Volgens {title} › {section}: {items}.",
        "fr": "Selon {title} › {section} : {items}.",
    },
    "about_country": {
        "en": "There is no {country}-wide guide for that; the {title} guide says: ",
        "nl": "Er is geen gids voor heel {country}; de gids {title} zegt: ",
        "fr": "Il n'y a pas de guide pour toute la {country} ; le guide {title} dit : ",
    },
    "no_country_guide": {
        "en": "There is no {country}-wide guide for {role}, and the city guides say nothing "
              "about that for the whole country. The guides cover {coverage}.",
        "nl": "Er is geen gids voor {role} in heel {country}, en de stadsgidsen zeggen daar niets "
              "over voor het hele land. De gidsen behandelen {coverage}.",
        "fr": "Il n'y a pas de guide {role} pour toute la {country}, et les guides des villes "
              "n'en disent rien pour tout le pays. Les guides couvrent {coverage}.",
    },
    "no_section_closest": {
        "en": "The {title} guide does not say. The closest it has is its “{closest}” section. "
              "It covers: {sections}.",
        "nl": "De gids {title} zegt daar niets over. Het dichtst in de buurt komt de sectie "
              "“{closest}”. Hij behandelt: {sections}.",
        "fr": "Le guide {title} n'en dit rien. Le plus proche est sa section « {closest} ». "
              "Il couvre : {sections}.",
    },
    "quote": {
        "en": "{title} › {section}: “{text}”",
        "nl": "Volgens {title} › {section}: “{text}”",
        "fr": "Selon {title} › {section} : « {text} »",
    },
    "fallback": {
        "en": "There is no {role} guide for {asked}; from the Belgium-wide guide: ",
        "nl": "Er is geen gids voor {role} in {asked}; volgens de gids voor heel België: ",
        "fr": "Il n'y a pas de guide {role} pour {asked} ; selon le guide pour toute la Belgique : ",
    },
    "empty_section": {
        "en": "The {title} guide has a “{section}” section, but it lists nothing.",
        "nl": "De gids {title} heeft een sectie “{section}”, maar die is leeg.",
        "fr": "Le guide {title} a une section « {section} », mais elle est vide.",
    },
    "no_section": {
        "en": "The {title} guide does not cover that. It covers: {sections}.",
        "nl": "De gids {title} behandelt dat niet. Hij behandelt: {sections}.",
        "fr": "Le guide {title} n'en parle pas. Il couvre : {sections}.",
    },
    "empty_guide": {
        "en": "The {title} guide has no content yet.",
        "nl": "De gids {title} heeft nog geen inhoud.",
        "fr": "Le guide {title} n'a pas encore de contenu.",
    },
    "no_rate": {
        "en": "The {title} guide gives salaries {period}, not {rates}.",
        "nl": "De gids {title} geeft salarissen {period}, geen {rates}.",
        "fr": "Le guide {title} donne des salaires {period}, pas de {rates}.",
    },
    "no_named_pay": {
        "en": "The {title} guide gives salaries for {role} in {place} as a whole; it names "
              "no figure for {named}.",
        "nl": "De gids {title} geeft salarissen voor {role} in {place} als geheel; hij noemt "
              "geen bedrag voor {named}.",
        "fr": "Le guide {title} donne les salaires des {role} à {place} dans leur ensemble ; "
              "il ne donne aucun chiffre pour {named}.",
    },
    "day_rates": {"en": "day rates", "nl": "dagtarieven", "fr": "taux journaliers"},
    "hour_rates": {"en": "hourly rates", "nl": "uurtarieven", "fr": "taux horaires"},
    "missing_levels": {
        "en": "The {title} guide gives no {levels} salary; it lists {available}.",
        "nl": "De gids {title} geeft geen salaris voor {levels}; hij vermeldt {available}.",
        "fr": "Le guide {title} ne donne pas de salaire {levels} ; il indique {available}.",
    },
    "gap_place": {
        "en": "The guides don't cover {place}. They cover {coverage}.",
        "nl": "De gidsen behandelen {place} niet. Ze behandelen {coverage}.",
        "fr": "Les guides ne couvrent pas {place}. Ils couvrent {coverage}.",
    },
    "gap_role": {
        "en": "The guides don't cover {role}. They cover {coverage}.",
        "nl": "De gidsen behandelen {role} niet. Ze behandelen {coverage}.",
        "fr": "Les guides ne couvrent pas les {role}. Ils couvrent {coverage}.",
    },
    "gap_role_in_place": {
        "en": "There is no {role} guide for {place}. For {place} the guides cover {options}.",
        "nl": "Er is geen gids voor {role} in {place}. Voor {place} zijn er gidsen over {options}.",
        "fr": "Il n'y a pas de guide {role} pour {place}. Pour {place}, les guides couvrent {options}.",
    },
    "choose_place": {
        "en": "Which place do you mean? The guides cover {role} in {options}.",
        "nl": "Welke plaats bedoel je? De gidsen behandelen {role} in {options}.",
        "fr": "Quelle ville ? Les guides couvrent les {role} à {options}.",
    },
    "choose_guide": {
        "en": "Which role and place do you mean? The guides cover {coverage}.",
        "nl": "Welke rol en plaats bedoel je? De gidsen behandelen {coverage}.",
        "fr": "Quel métier et quelle ville ? Les guides couvrent {coverage}.",
    },
    "choose_role": {
        "en": "Which role do you mean? For {place} the guides cover {options}.",
        "nl": "Welke rol bedoel je? Voor {place} behandelen de gidsen {options}.",
        "fr": "Quel métier ? Pour {place}, les guides couvrent {options}.",
    },
    "off_topic": {
        "en": "The guides don't say. I answer questions about hiring tech talent from the "
              "recruiting guides, which cover {coverage}. Try: {examples}",
        "nl": "Daar zeggen de gidsen niets over. Ik beantwoord vragen over het aanwerven van "
              "tech-talent op basis van de gidsen over {coverage}. Probeer: {examples}",
        "fr": "Les guides n'en disent rien. Je réponds aux questions sur le recrutement "
              "tech à partir des guides, qui couvrent {coverage}. Essayez : {examples}",
    },
    "greeting": {
        "en": "Hello! I answer recruiters' questions from the hiring guides ({coverage}). "
              "Try: {examples}",
        "nl": "Hallo! Ik beantwoord vragen van recruiters op basis van de gidsen ({coverage}). "
              "Probeer: {examples}",
        "fr": "Bonjour ! Je réponds aux questions des recruteurs à partir des guides "
              "({coverage}). Essayez : {examples}",
    },
    "thanks": {
        "en": "You're welcome! Ask me anything else about {coverage}.",
        "nl": "Graag gedaan! Vraag gerust meer over {coverage}.",
        "fr": "Avec plaisir ! Posez-moi d'autres questions sur {coverage}.",
    },
    "help": {
        "en": "I answer from the recruiting guides, which cover {coverage}: salaries by "
              "seniority, employers, tech hubs, universities, skills, career paths and market "
              "demand. For example: {examples}",
        "nl": "Ik antwoord op basis van de gidsen over {coverage}: salarissen per niveau, "
              "werkgevers, tech hubs, universiteiten, vaardigheden, loopbanen en de vraag op de "
              "markt. Bijvoorbeeld: {examples}",
        "fr": "Je réponds à partir des guides, qui couvrent {coverage} : salaires par niveau, "
              "employeurs, tech hubs, universités, compétences, carrières et demande du "
              "marché. Par exemple : {examples}",
    },
    "example_salary": {
        "en": "What does a senior {role_one} earn in {place}?",
        "nl": "Wat verdient een senior {role_one} in {place}?",
        "fr": "Combien gagne un {role_one} senior à {place} ?",
    },
    "example_employers": {
        "en": "Which companies hire {role} in {place}?",
        "nl": "Welke bedrijven werven {role} aan in {place}?",
        "fr": "Quelles entreprises recrutent des {role} à {place} ?",
    },
    "example_universities": {
        "en": "Which universities are there in {place}?",
        "nl": "Welke universiteiten zijn er in {place}?",
        "fr": "Quelles universités y a-t-il à {place} ?",
    },
    "and": {"en": "and", "nl": "en", "fr": "et"},
    "tech": {"en": "tech roles", "nl": "tech-profielen", "fr": "les profils tech"},
    "in": {"en": "in", "nl": "in", "fr": "à"},
    "more": {"en": "and more", "nl": "en meer", "fr": "et d'autres"},
    "belgium_wide": {"en": "Belgium-wide", "nl": "heel België", "fr": "toute la Belgique"},
}

PERIOD_WORDS = {
    "en": {"gross": "gross", "net": "net", "year": "per year", "month": "per month",
           "hour": "per hour", "day": "per day"},
    "nl": {"gross": "bruto", "net": "netto", "year": "per jaar", "month": "per maand",
           "hour": "per uur", "day": "per dag"},
    "fr": {"gross": "brut", "net": "net", "year": "par an", "month": "par mois",
           "hour": "par heure", "day": "par jour"},
}


def say(name: str, lang: str, **values: str) -> str:
    templates = TEMPLATES[name]
    return templates.get(lang, templates["en"]).format(**values)


def word(name: str, lang: str) -> str:
    return say(name, lang)


def period_phrase(period: str, lang: str) -> str:
    kind, _, unit = period.partition("/")
    words = PERIOD_WORDS.get(lang, PERIOD_WORDS["en"])
    return f"{words.get(kind, kind)} {words.get(unit, unit)}".strip()


def place_name(place: str, lang: str) -> str:
    return PLACE_NAMES.get(lang, {}).get(place, place)


def join_items(items: list[str], lang: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word('and', lang)} {items[-1]}"


# A technology's name keeps its capital in running text ("Java developers"), unlike a
# title's common words ("backend developers").
_TECH_NAMES = {name.split()[0] for name in SPECIALISTS}


def role_phrase(role: str) -> str:
    """ "Backend Developers" -> "backend developers"; acronyms, ".NET" and "Java" stay as
    written."""
    return " ".join(w.lower() if w[:1].isupper() and w[1:].islower() and w not in _TECH_NAMES
                    else w for w in role.split())


def role_singular(role: str) -> str:
    phrase = role_phrase(role)
    if phrase.endswith("ies"):
        return phrase[:-3] + "y"
    return phrase[:-1] if phrase.endswith("s") else phrase
