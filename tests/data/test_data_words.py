from hypothesis import given
from hypothesis import strategies as st

from tunekit.data.words import split_words


def test_latin_text_splits_into_words_and_punctuation():
    words = split_words("Mr. Smith (IBM) paid $3.5m.")
    assert [w.text for w in words] == ["Mr", ".", "Smith", "(", "IBM", ")", "paid", "$", "3", ".", "5m", "."]


def test_chinese_text_splits_character_by_character():
    assert [w.text for w in split_words("李开复去台湾 ok")] == ["李", "开", "复", "去", "台", "湾", "ok"]


@given(st.text(alphabet=st.sampled_from(list("ab Z9.,-'é李台\t\n ")), max_size=60))
def test_offsets_point_at_the_words_and_skip_only_whitespace(text):
    words = split_words(text)
    for word in words:
        assert text[word.start:word.end] == word.text
    covered = {i for w in words for i in range(w.start, w.end)}
    assert all(text[i].isspace() for i in range(len(text)) if i not in covered)
