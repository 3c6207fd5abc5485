"""Every UI string is translated in both catalogs."""
import subprocess
import sys

from babel.messages.pofile import read_po

CATALOGS = {"zh_CN": "zh_Hans_CN", "en": "en"}


def extracted_messages(repo_root, tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "_l",
                    "-k", "lazy_gettext", "--no-location", "-o", str(pot), "."],
                   cwd=repo_root, check=True, capture_output=True)
    return {m.id for m in read_po(pot.open("rb")) if m.id}


def test_every_ui_string_is_translated_in_both_locales(repo_root, tmp_path):
    wanted = extracted_messages(repo_root, tmp_path)
    assert len(wanted) > 50
    for locale, folder in CATALOGS.items():
        path = repo_root / "crowdfund" / "translations" / folder / "LC_MESSAGES" / "messages.po"
        catalog = read_po(path.open("rb"))
        translated = {m.id for m in catalog if m.id and m.string and all(m.string if isinstance(m.string, tuple)
                                                                        else [m.string])
                      and "fuzzy" not in m.flags}
        missing = wanted - translated
        assert not missing, f"{locale}: untranslated {sorted(map(str, missing))[:10]}"


def test_chinese_is_the_default_and_english_is_complete(client, forms):
    chinese = client.get("/signup").get_data(as_text=True)
    assert "注册账户" in chinese and "Create your account" not in chinese
    forms.post("/locale", {"locale": "en"}, form_path="/")
    english = client.get("/signup").get_data(as_text=True)
    assert "Create your account" in english
    han = [ch for ch in english.split("<body", 1)[1] if "\u4e00" <= ch <= "\u9fff"]
    assert set(han) <= set("中文"), f"Chinese text left on the English page: {''.join(han)}"
