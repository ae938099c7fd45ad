"""Identifying X's controls without a browser: text in any known language after normalising, position
only on an expected page shape, ambiguity never guessed; the user's strings file; moved-page memory."""

from __future__ import annotations

import pytest

from optout import catalog, texts
from optout.config import load_settings
from optout.doctor import check_strings
from optout.errors import BadInput
from optout.moved_pages import MovedPages
from optout.x.controls import Seen, identify

GROK = catalog.PAGES["grok_settings"]
PARTNERS = catalog.PAGES["data_sharing_with_business_partners"]
TRAINING_EN = ("Allow your public data as well as your interactions, inputs, and results with Grok and xAI to be "
               "used for training and fine-tuning")


def seen(*labels: str, role: str = "checkbox", where: str = "description") -> list[Seen]:
    return [Seen(i, role, label if where == "name" else "", label if where == "description" else "",
                 label if where == "beside" else "", True) for i, label in enumerate(labels)]


def keys(controls: list[Seen]) -> list[tuple[str | None, str | None]]:
    return [(s.key, s.how) for s in controls]


def test_normalising_ignores_case_punctuation_width_and_spacing():
    assert texts.normalise("  Grok & Third-party\u00a0Collaborators ") == "grok third party collaborators"
    assert texts.normalise("Ｐｅｒｓｏｎａｌｉｚｅｄ ads") == "personalized ads"  # NFKC: full-width letters
    assert texts.says("Autoriser le partage d’informations supplémentaires avec des partenaires commerciaux",
                      texts.load().texts("labels", "partners"))
    assert not texts.says("Share more with partners", texts.load().texts("labels", "partners"))


def test_text_wins_over_position_when_x_reorders():
    strings = texts.load()
    found = identify(seen("Allow X to personalize your experience with Grok", TRAINING_EN.upper()), GROK, strings)
    assert keys(found) == [("grok-personalization", "text"), ("grok-training", "text")]


@pytest.mark.parametrize("where", ["name", "description", "beside"])
def test_name_description_or_the_text_beside_it(where):
    found = identify(seen("Permitir compartir información adicional con socios comerciales.", where=where),
                     PARTNERS, texts.load())
    assert keys(found) == [("partners", "text")]


def test_position_only_on_the_expected_shape():
    strings = texts.load()
    # a language optout lacks, exactly the always-shown controls: position, in catalog order
    assert keys(identify(seen("Sta training toe", "Sta personalisatie toe"), GROK, strings)) == [
        ("grok-training", "position"), ("grok-personalization", "position")]
    # one more control than expected, none matching: nothing is identified
    assert keys(identify(seen("Nieuw", "Sta training toe"), PARTNERS, strings)) == [(None, None), (None, None)]
    # same count but a switch where the catalog expects a checkbox: not the expected shape
    assert keys(identify(seen("Onbekend", role="switch"), PARTNERS, strings)) == [(None, None)]
    # a known control plus an unknown one: the unknown one is news, not a guess
    found = identify(seen("New AI sharing option", TRAINING_EN, "Another new one"), GROK, strings)
    assert keys(found) == [(None, None), ("grok-training", "text"), (None, None)]


def test_two_controls_saying_the_same_are_not_told_apart_by_text():
    found = identify(seen(TRAINING_EN, TRAINING_EN, "x"), GROK, texts.load())
    assert all(s.key is None for s in found[:2])


def test_user_strings_file_adds_a_language_and_doctor_names_it(tmp_path):
    settings = load_settings(config_dir=tmp_path, state_dir=tmp_path / "state")
    assert "no " in check_strings(settings).detail
    (tmp_path / "strings.toml").write_text('[labels.partners]\nnl = ["Delen van aanvullende informatie met '
                                           'zakelijke partners toestaan"]\n', encoding="utf-8")
    strings = texts.load(tmp_path)
    assert strings.user_file == tmp_path / "strings.toml"
    assert keys(identify(seen("Delen van aanvullende informatie met zakelijke partners toestaan", "Nieuw"),
                         PARTNERS, strings)) == [("partners", "text"), (None, None)]
    assert str(tmp_path / "strings.toml") in check_strings(settings).detail
    (tmp_path / "strings.toml").write_text('[labels.partners]\nnl = "not a list"\n', encoding="utf-8")
    with pytest.raises(BadInput) as err:
        texts.load(tmp_path)
    assert "strings.toml" in err.value.message and check_strings(settings).ok is False


def test_every_catalog_control_and_page_has_texts_in_every_language():
    strings = texts.load()
    for page in catalog.PAGES.values():
        assert set(strings.tables["titles"][page.slug]) == set(texts.LANGUAGES), page.slug
        for control in page.controls:
            assert set(strings.tables["labels"][control.key]) == set(texts.LANGUAGES), control.key
    assert set(strings.tables["titles"]["privacy_and_safety"]) == set(texts.LANGUAGES)
    assert strings.is_confirmed("labels", "partners", "en") and not strings.is_confirmed("labels", "partners", "de")
    assert all(c.split(".")[-1] == "en" for c in texts.confirmed_report())


def test_moved_pages_are_remembered_per_site_and_dropped(tmp_path):
    here = MovedPages(load_settings(base_url="http://a.test", state_dir=tmp_path))
    there = MovedPages(load_settings(base_url="http://b.test", state_dir=tmp_path))
    here.remember("/settings/grok_settings", "/settings/grok_new")
    assert here.get("/settings/grok_settings") == "/settings/grok_new" and there.get("/settings/grok_settings") is None
    here.forget("/settings/grok_settings")
    assert here.get("/settings/grok_settings") is None
    (tmp_path / "moved_pages.json").write_text("{broken", encoding="utf-8")
    assert here.get("/settings/grok_settings") is None  # damaged memory: the menu finds it again
