from tunekit.audit import synonyms
from tunekit.audit.synonyms import table_synonyms, wordnet_synonyms

DATA_ADJ = """  1 This software and database is being provided to you, the LICENSEE, by Princeton University
00001740 00 a 03 good 0 beneficial(a) 0 ice_cream 0 000 | a made-up synset
00002000 00 a 01 lonely 0 000 | no synonyms
"""


def _fake_wordnet(root):
    for name in synonyms.POS_FILES:
        (root / name).write_text(DATA_ADJ if name == "data.adj" else "", encoding="latin-1")
    return root


def test_reads_synsets_from_the_database_files(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEKIT_WORDNET_DIR", str(_fake_wordnet(tmp_path)))
    synonyms._read_synsets.cache_clear()
    find, reason = wordnet_synonyms()
    assert reason is None
    assert find("Good") == ["beneficial"]  # position marker stripped, multi-word lemma dropped
    assert find("lonely") == [] and find("unknown") == []


def test_missing_wordnet_is_a_reason_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.delenv("TUNEKIT_WORDNET_DIR", raising=False)
    monkeypatch.setattr(synonyms, "WORDNET_DIRS", (str(tmp_path / "nowhere"),))
    find, reason = wordnet_synonyms()
    assert find is None and "apt-get install wordnet-base" in reason


def test_table_synonyms_are_case_insensitive():
    assert table_synonyms({"Great": ["fine"]})("GREAT") == ["fine"]
