"""metalib.domain.digits_protocol: chapter 6's fixed split, its model, and the validators of a model."""
import metalib  # noqa: F401  (before torch: see metalib/threads.py)
import pytest
import torch

from metalib.data.digits import load_digits
from metalib.domain import MeanTeacher, train_adaptation
from metalib.domain.digits_protocol import (FAMILIES, METHODS, digit_classifier, digit_domains, make_method, spearman,
                                            validator_scores)


@pytest.fixture(scope="module")
def data():
    return digit_domains()


def test_the_real_digits_are_split_once_into_two_disjoint_halves(data):
    assert data.source_x.shape == (1800, 1, 8, 8) and data.val_x.shape == (500, 1, 8, 8)
    assert len(data.target_x) + len(data.test_x) == 1797 and abs(len(data.target_x) - len(data.test_x)) <= 1
    real_x, _ = load_digits().examples()
    rows = {tuple(x.flatten().tolist()) for x in real_x}
    halves = [{tuple(x.flatten().tolist()) for x in part} for part in (data.target_x, data.test_x)]
    assert halves[0] | halves[1] <= rows
    again = digit_domains()
    assert torch.equal(again.test_x, data.test_x) and torch.equal(again.target_y, data.target_y)
    assert not torch.equal(digit_domains(split_seed=1).test_y, data.test_y)
    assert int(torch.bincount(data.test_y, minlength=10).min()) > 60   # every digit in both halves (77 to 104)


def test_the_font_digits_carry_their_face_family(data):
    counts = torch.bincount(data.source_family, minlength=len(FAMILIES))
    assert len(counts) == len(FAMILIES) and int(counts.sum()) == 1800 and int(counts.min()) > 300


def test_every_method_is_built_and_a_wrong_name_is_named():
    model = digit_classifier()
    for name in METHODS:
        assert isinstance(make_method(name, model), torch.nn.Module)
    assert isinstance(make_method("mean teacher", model), MeanTeacher)
    with pytest.raises(ValueError, match="unknown method 'MDD'; the chapter's methods are DANN, MMD"):
        make_method("MDD", model)


def test_validator_scores_of_a_trained_model(data):
    model = digit_classifier()
    train_adaptation(model, data.source_x, data.source_y, steps=200, progress=False)
    scores = validator_scores(model, data)
    assert set(scores) == {"source", "IWV", "DEV", "IM", "reverse", "target"}
    assert scores["source"] > 0.8 and 0.3 < scores["target"] < scores["source"]   # the shift is real
    assert 0 <= scores["IM"] <= torch.log(torch.tensor(10.0)).item() + 1e-9


def test_spearman_ranks():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
