"""An invariant built from the corpus itself: every non-empty section of every guide can be
reached. A question made of the section's heading and the guide's role and place must rank
that section among the top three the engine considers, for the shipped guide, the
evaluation guides and the test fixtures alike (real model, real Chroma).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant.corpus import load_corpus
from assistant.evaluate import ranked_sections
from conftest import FIXTURE_GUIDES, ROOT, SHIPPED_CORPUS, build

EVAL_GUIDES = ROOT / "eval" / "guides"
CORPORA = {"shipped+eval": (SHIPPED_CORPUS, EVAL_GUIDES), "fixtures": (FIXTURE_GUIDES,)}


def sections_of(folders: tuple[Path, ...]) -> list[tuple[str, str, str]]:
    """(guide key, heading, question) for every non-empty section but the opening lines."""
    cases = []
    for folder in folders:
        guides, _errors = load_corpus(folder)
        for guide in guides:
            place = guide.city or guide.country
            for section in guide.sections:
                if section.is_empty or section.heading == "Introduction":
                    continue
                cases.append((guide.key, section.heading,
                              f"{section.heading} for {guide.role} in {place}?"))
    return cases


@pytest.fixture(scope="module", params=sorted(CORPORA))
def corpus_assistant(request, tmp_path_factory, real_embedder):
    from assistant.chat import Assistant

    folders = CORPORA[request.param]
    combined = tmp_path_factory.mktemp("corpus")
    for folder in folders:
        for path in folder.iterdir():
            if path.is_file():
                shutil.copy(path, combined / path.name)
    settings = build(tmp_path_factory.mktemp("index"), combined, real_embedder)
    return Assistant(settings, embedder=real_embedder), folders


def ask_with_eval_guides(corpus_assistant, question: str, why: str):
    """`question` asked of the shipped and evaluation guides (skipped for the fixtures:
    `why` they are needed)."""
    assistant, folders = corpus_assistant
    if EVAL_GUIDES not in folders:
        pytest.skip(why)
    return assistant.ask(question)


@pytest.mark.integration
def test_every_section_is_reachable_from_its_heading(corpus_assistant) -> None:
    assistant, folders = corpus_assistant
    unreachable = []
    cases = sections_of(folders)
    assert len(cases) > 10
    for key, heading, question in cases:
        _answer, rankings = assistant.explain(question)
        top = [(hit.node.metadata["guide"], hit.node.metadata["section"])
               for hit in ranked_sections(rankings)[:3]]
        if (key, heading) not in top:
            unreachable.append(f"{key} › {heading}: {top}")
    assert not unreachable, "\n".join(unreachable)


@pytest.mark.integration
@pytest.mark.parametrize("question, expected", [
    # a note beside a pay table: the rows, then the note that holds the question's words
    ("Do the monthly DevOps salaries in Liège include the 13th-month bonus?",
     ("€2,940", "13th-month")),
    # a comparison: the sentence stating the difference, not the pay table
    ("How much lower are DevOps pay levels in Liège than in Brussels?", ("14%",)),
    # a reason: prose, not the row of the level the question names
    ("Why are senior cloud engineers so hard to find in Belgium?", ("counter-offer",)),
    # a duration, and a count in a sentence below one that states none
    ("How long do DevOps engineers usually stay with one employer in Liège?", ("3.8 years",)),
    ("How many tech companies can frontend recruiters target in Brussels?", ("1,900",)),
    # a reason asked, and prose that gives one (the form a "why" asks for)
    ("Why should I choose Leuven to hire back-end developers?", ("attractive balance",)),
    # two things asked, one per sentence of the section: both sentences
    ("Which CI tool and which scripting languages do DevOps engineers in Liège use?",
     ("GitLab CI", "Python and Bash")),
    # a date asked, and the sentence that states it
    ("When does the European Accessibility Act apply to Brussels frontend work?", ("June 2025",)),
])
def test_the_form_a_question_asks_for_picks_the_evidence(corpus_assistant, question, expected):
    answer = ask_with_eval_guides(corpus_assistant, question,
                                  why="the evaluation guides hold these facts")
    assert not answer.abstained and all(text in answer.answer for text in expected), answer.answer


@pytest.mark.integration
@pytest.mark.parametrize("question", [
    # the best evidence (the pay table) states no duration
    "How long does it take a junior DevOps engineer in Liège to reach senior level?",
    # no number of Euroclear's staff; the list of firms names Euroclear
    "How many employees does Euroclear have? I'm hiring frontend developers in Brussels.",
    # a date asked: the sentence naming KU Leuven states none
    "When was KU Leuven founded?",
    # an amount asked of a coworking space: its list states no price
    "What does a desk at Bryggia Cowork cost per month? Our Bruges mobile team needs one.",
])
def test_a_count_duration_date_or_amount_the_guide_does_not_state_is_refused(corpus_assistant, question):
    answer = ask_with_eval_guides(corpus_assistant, question,
                                  why="the evaluation guides hold these subjects")
    assert answer.abstained, answer.answer


@pytest.mark.integration
@pytest.mark.parametrize("question, expected", [
    # the Market Demand sentence speaks of Belgium as a whole
    ("Is there demand for backend developers in Belgium?", "sought-after profiles in Belgium"),
    # no sentence about Belgium states an amount: the Leuven table is Leuven's, and the
    # opening line's "in Leuven, Belgium" only says where Leuven lies
    ("What do backend developers earn in Belgium?", None),
    ("How much does a senior backend developer make in Belgium?", None),
])
def test_a_country_question_is_answered_from_what_a_city_guide_says_of_the_country(
        corpus_assistant, question, expected):
    answer = ask_with_eval_guides(corpus_assistant, question,
                                  why="the shipped Leuven guide is the only backend guide there")
    assert "Introduction" not in answer.answer and "€" not in answer.answer, answer.answer
    if expected is None:
        assert answer.abstained, answer.answer
    else:
        assert not answer.abstained and expected in answer.answer, answer.answer


@pytest.mark.integration
def test_two_places_without_a_role_are_each_answered_from_their_own_guide(corpus_assistant):
    answer = ask_with_eval_guides(corpus_assistant, "Which universities are there in Leuven and Mechelen?",
                                  why="the evaluation guides hold Mechelen's")
    # Leuven's list, and Mechelen's guide has none; never "which role?" with another
    # place's roles listed as Leuven's
    assert "KU Leuven" in answer.answer and "Mechelen" in answer.answer, answer.answer
    assert "Which role" not in answer.answer and "Data Engineers and" not in answer.answer


@pytest.mark.integration
@pytest.mark.parametrize("question, expected, abstains", [
    # the tables are yearly (Brussels) or monthly (Liège): no day or hourly rate in them
    ("What's the day rate of a freelance frontend developer in Brussels?",
     "gives salaries gross per year, not day rates", True),
    ("Quel est le taux horaire d'un DevOps senior à Liège ?", "pas de taux horaires", True),
    # an amount the guide does state per day
    ("How much are meal vouchers worth per day for frontend developers in Brussels?", "€8", False),
])
def test_an_amount_per_day_or_hour_is_answered_only_where_the_guide_states_one(
        corpus_assistant, question, expected, abstains):
    answer = ask_with_eval_guides(corpus_assistant, question,
                                  why="the evaluation guides hold these")
    assert answer.abstained is abstains and expected in answer.answer, answer.answer
    assert abstains is False or "€" not in answer.answer


@pytest.mark.integration
@pytest.mark.parametrize("question, expected, abstains", [
    # the certifications list names the CKA and the AZ-305 but no premium for holding one
    ("How much more do cloud engineers with a CKA get paid in Belgium?", "does not say", True),
    ("What percentage of frontend developers in Brussels work freelance?", "does not say", True),
    # the figure sits in the sentence after the one sharing most words with the question
    ("How much cheaper are DevOps engineers in Liège compared to Brussels?", "14%", False),
    ("How much has demand for cloud engineers grown in Belgium?", "21%", False),
])
def test_a_comparison_asked_as_a_figure_is_answered_only_by_evidence_stating_one(
        corpus_assistant, question, expected, abstains):
    answer = ask_with_eval_guides(corpus_assistant, question, why="the evaluation guides hold these")
    assert answer.abstained is abstains and expected in answer.answer, answer.answer


@pytest.mark.integration
@pytest.mark.parametrize("question, abstains", [
    # the pay table names no employer: no employer's pay
    ("How much does Telenet pay its senior data engineers in Mechelen?", True),
    ("What does Euroclear pay a senior Angular developer?", True),
    ("How much does imec pay its backend engineers?", True),  # an item of a list, lower case
    # the sentence that answers names it
    ("What does Materialise do in Leuven?", False),
    ("Is Telenet headquartered in Mechelen?", False),
])
def test_a_name_the_question_asks_about_is_named_by_the_evidence(corpus_assistant, question,
                                                                 abstains):
    answer = ask_with_eval_guides(corpus_assistant, question, why="the evaluation guides hold these")
    assert answer.abstained is abstains, answer.answer
    assert not abstains or "€" not in answer.answer


@pytest.mark.integration
@pytest.mark.parametrize("question, expected", [
    ("How much does Telenet pay its senior data engineers in Mechelen?",
     "gives salaries for data engineers in Mechelen as a whole; it names no figure for Telenet."),
    ("Combien paie Euroclear un développeur frontend senior à Bruxelles ?",
     "il ne donne aucun chiffre pour Euroclear"),
    # a level the table lacks is the table's own note
    ("What is a head of quality paid in Lier?", "gives no lead salary; it lists Junior"),
])
def test_a_pay_question_about_a_name_says_what_the_table_gives(corpus_assistant, question,
                                                               expected):
    answer = ask_with_eval_guides(corpus_assistant, question, why="the evaluation guides hold these")
    assert answer.abstained and expected in answer.answer, answer.answer


@pytest.mark.integration
@pytest.mark.parametrize("question, expected, forbidden", [
    # a level names whom the question is about; the junior pay row says nothing of schools
    ("where do brussels frontend juniors come from? unis, bootcamps?", "ULB", "€"),
    ("What does a junior frontend developer earn in Brussels?", "€36,450 – €46,820", "€59,740"),
])
def test_a_level_draws_its_pay_row_only_for_what_the_row_states(corpus_assistant, question,
                                                                expected, forbidden):
    answer = ask_with_eval_guides(corpus_assistant, question, why="the evaluation guides hold these")
    assert expected in answer.answer and forbidden not in answer.answer, answer.answer


@pytest.mark.integration
@pytest.mark.parametrize("question, expected", [
    ("Hoeveel lager liggen de kantoorhuren in Mechelen dan in het centrum van Brussel?", "35%"),
    ("Moeten data engineers in Mechelen Nederlands spreken, en op welk niveau?", "B2"),
])
def test_a_dutch_compound_is_read_by_its_parts(corpus_assistant, question, expected):
    answer = ask_with_eval_guides(corpus_assistant, question, why="the evaluation guides hold these")
    assert not answer.abstained and expected in answer.answer, answer.answer


@pytest.mark.integration
def test_gross_or_net_is_not_read_as_the_name_dot_net(corpus_assistant):
    # The Leuven guide writes ".NET" and never "net": the follow-up is about the table.
    assistant, _folders = corpus_assistant
    first = "What are backend developer salaries in Leuven?"
    answer = assistant.ask("Is that gross or net?", [{"role": "user", "content": first},
                                                     {"role": "assistant", "content": "…"}])
    assert not answer.abstained and "gross" in answer.answer.lower(), answer.answer


@pytest.mark.integration
def test_a_technology_s_developers_are_answered_from_the_guide_that_names_it(corpus_assistant):
    answer = ask_with_eval_guides(corpus_assistant, "What do senior React developers earn in Brussels?",
                                  why="the Brussels frontend guide names React")
    assert not answer.abstained and "€59,740" in answer.answer, answer.answer
    assert answer.sources[0].title == "Recruiting Frontend Developers in Brussels"
